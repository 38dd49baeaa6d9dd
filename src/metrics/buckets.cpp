#include "tally/metrics/buckets.hpp"

#include <charconv>
#include <cstdio>
#include <string>

namespace tally::metrics {

std::optional<Aggregation> Aggregation::parse(std::string_view text) {
    using Op = Aggregation::Op;
    static constexpr std::pair<std::string_view, Op> kNames[] = {
        {"sum", Op::sum},   {"count", Op::count},   {"rate", Op::rate},
        {"avg", Op::avg},   {"min", Op::min},       {"max", Op::max},
        {"last", Op::last}, {"unique", Op::unique}, {"average", Op::avg}};
    for (const auto& [name, op] : kNames) {
        if (name == text)
            return Aggregation{op, 0.5};
    }
    if (text.size() < 2 || text[0] != 'p' || text.size() > 12)
        return std::nullopt;
    double percent = 0;
    const char* begin = text.data() + 1;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(begin, end, percent);
    if (ec != std::errc() || ptr != end || !(percent > 0 && percent < 100))
        return std::nullopt;
    return Aggregation{Op::percentile, percent / 100.0};
}

Aggregation Aggregation::natural(MetricType type) {
    switch (type) {
        case MetricType::count:
        case MetricType::sum:
            return {Op::sum, 0.5};
        case MetricType::rate:
            return {Op::rate, 0.5};
        case MetricType::average:
            return {Op::avg, 0.5};
        case MetricType::min:
            return {Op::min, 0.5};
        case MetricType::max:
            return {Op::max, 0.5};
        case MetricType::gauge:
            return {Op::last, 0.5};
        case MetricType::percentile:
            return {Op::percentile, 0.5};
        case MetricType::unique:
            return {Op::unique, 0.5};
    }
    return {Op::sum, 0.5};
}

bool Aggregation::answers(MetricKind kind) const {
    switch (kind) {
        case MetricKind::counter:
            return op == Op::sum || op == Op::count || op == Op::rate || op == Op::avg;
        case MetricKind::gauge:
            return op == Op::avg || op == Op::min || op == Op::max || op == Op::last ||
                   op == Op::sum || op == Op::count;
        case MetricKind::distribution:
            return op == Op::percentile || op == Op::avg || op == Op::min || op == Op::max ||
                   op == Op::count || op == Op::sum;
        case MetricKind::set:
            return op == Op::unique;
    }
    return false;
}

std::string Aggregation::name() const {
    static constexpr const char* kNames[] = {"sum", "count", "rate", "avg",
                                             "min", "max",   "last", "unique"};
    if (op != Op::percentile)
        return kNames[static_cast<int>(op)];
    char text[32];
    std::snprintf(text, sizeof text, "p%g", quantile * 100.0);
    return text;
}

void Accumulator::add(const CounterBucket& bucket) {
    count_ += bucket.count;
    sum_ += bucket.sum;
}

void Accumulator::add(const GaugeBucket& bucket) {
    count_ += bucket.count;
    sum_ += bucket.sum;
    min_ = std::min(min_, bucket.min);
    max_ = std::max(max_, bucket.max);
    if (bucket.last_ms >= last_ms_) {
        last_ = bucket.last;
        last_ms_ = bucket.last_ms;
    }
}

void Accumulator::add(const DistributionBucket& bucket) {
    if (bucket.sketch.empty())
        return;
    sketch_.merge(bucket.sketch);
    count_ = sketch_.count();
}

void Accumulator::add(const SetBucket& bucket) {
    set_.merge(bucket.set);
    count_ += bucket.points;
    has_set_ = true;
}

void Accumulator::merge(const Accumulator& other) {
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    if (other.last_ms_ >= last_ms_) {
        last_ = other.last_;
        last_ms_ = other.last_ms_;
    }
    if (!other.sketch_.empty()) {
        sketch_.merge(other.sketch_);
        count_ = sketch_.count();
    }
    if (other.has_set_) {
        set_.merge(other.set_);
        has_set_ = true;
    }
}

std::optional<double> Accumulator::value(const Aggregation& aggregation, double seconds) const {
    using Op = Aggregation::Op;
    if (empty())
        return std::nullopt;
    const bool sketched = kind_ == MetricKind::distribution;
    switch (aggregation.op) {
        case Op::sum:
            return sketched ? sketch_.sum() : sum_;
        case Op::count:
            return count_;
        case Op::rate:
            return seconds > 0 ? sum_ / seconds : 0.0;
        case Op::avg:
            return (sketched ? sketch_.sum() : sum_) / count_;
        case Op::min:
            return sketched ? sketch_.min() : min_;
        case Op::max:
            return sketched ? sketch_.max() : max_;
        case Op::last:
            return last_;
        case Op::unique:
            return static_cast<double>(set_.count());
        case Op::percentile:
            return sketch_.quantile(aggregation.quantile);
    }
    return std::nullopt;
}

}  // namespace tally::metrics
