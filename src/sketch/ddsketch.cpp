#include "tally/sketch/ddsketch.hpp"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "byte_codec.hpp"

namespace tally::sketch {

namespace {

// A bin count below this is an integer the varint form carries exactly.
constexpr double kExactIntegerLimit = 9007199254740992.0;  // 2^53

// How far the stated count may stray from the sum of the bins in a decoded sketch: both are
// sums of the same weights in different orders, so they differ by rounding only.
constexpr double kCountTolerance = 1e-6;

// Equal values, or both NaN (a sum of +inf and -inf products): a sketch equals its copy.
bool same_double(double a, double b) {
    return a == b || (std::isnan(a) && std::isnan(b));
}

void put_count(std::string& out, double count) {
    if (count >= 0 && count < kExactIntegerLimit && count == std::floor(count)) {
        codec::put_varint(out, static_cast<std::uint64_t>(count) << 1);
    } else {
        codec::put_varint(out, 1);
        codec::put_double(out, count);
    }
}

std::optional<double> read_count(codec::Reader& in) {
    auto tag = in.varint();
    if (!tag) {
        return std::nullopt;
    }
    if ((*tag & 1) == 0) {
        const std::uint64_t c = *tag >> 1;
        if (c >= static_cast<std::uint64_t>(kExactIntegerLimit)) {
            return std::nullopt;
        }
        return static_cast<double>(c);
    }
    auto c = *tag == 1 ? in.f64() : std::nullopt;
    if (!c || !std::isfinite(*c) || !(*c >= 0)) {
        return std::nullopt;
    }
    return c;
}

// to[i] += from[i] for i < n, two bins per instruction: the loop that dominates a query's
// merges. The compiler keeps such a loop scalar at -O2, so the pairs are spelled out.
void add_bins(double* to, const double* from, std::size_t n) {
    using Pair = double __attribute__((vector_size(2 * sizeof(double))));
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        Pair a, b, c, d;
        std::memcpy(&a, to + i, sizeof a);
        std::memcpy(&b, to + i + 2, sizeof b);
        std::memcpy(&c, from + i, sizeof c);
        std::memcpy(&d, from + i + 2, sizeof d);
        a += c;
        b += d;
        std::memcpy(to + i, &a, sizeof a);
        std::memcpy(to + i + 2, &b, sizeof b);
    }
    for (; i < n; ++i) {
        to[i] += from[i];
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------
// BinStore

void DDSketch::BinStore::add_outside(int key, double weight, std::size_t max_bins) {
    const Room room = empty() || key > max_key_ ? Room::up : Room::down;
    const int hi = std::max(max_key_, key);
    int lo = std::min(min_key_, key);
    if (static_cast<std::int64_t>(hi) - lo + 1 > static_cast<std::int64_t>(max_bins)) {
        lo = hi - static_cast<int>(max_bins) + 1;
    }
    reshape(lo, hi, room, max_bins);
    counts_[static_cast<std::size_t>(std::max(key, lo) - offset_)] += weight;
}

void DDSketch::BinStore::merge(const BinStore& other, std::size_t max_bins) {
    if (other.empty()) {
        return;
    }
    const int hi = empty() ? other.max_key_ : std::max(max_key_, other.max_key_);
    int lo = empty() ? other.min_key_ : std::min(min_key_, other.min_key_);
    if (static_cast<std::int64_t>(hi) - lo + 1 > static_cast<std::int64_t>(max_bins)) {
        lo = hi - static_cast<int>(max_bins) + 1;
    }
    // A receiver of many merges (an accumulator) sees its range widen on both sides. An
    // empty one takes the range exactly: a sketch decoded from a snapshot is merged into an
    // empty bucket, and must not keep twice the room it needs for the rest of its life.
    const Room room = empty() ? Room::up
                      : (other.min_key_ < min_key_) == (other.max_key_ > max_key_)
                          ? Room::both
                          : (other.max_key_ > max_key_ ? Room::up : Room::down);
    reshape(lo, hi, room, max_bins);
    int k = other.min_key_;
    // Collapsed keys (rare): one by one into bin lo, in key order as add() would.
    for (; k < lo && k <= other.max_key_; ++k) {
        counts_[static_cast<std::size_t>(lo - offset_)] += other.at(k);
    }
    if (k > other.max_key_) {
        return;
    }
    // The rest lines up element for element. Adding the empty bins too (x + 0 == x for
    // the non-negative counts) makes this a branch-free loop the compiler vectorises;
    // skipping them cost a mispredicted branch per bin.
    add_bins(counts_.data() + (k - offset_), other.counts_.data() + (k - other.offset_),
             static_cast<std::size_t>(other.max_key_ - k + 1));
}

void DDSketch::BinStore::reshape(int lo, int hi, Room room, std::size_t max_bins) {
    // The collapse: every weight below lo moves into bin lo (added once the vector covers it).
    double collapsed = 0;
    if (!empty()) {
        for (int k = min_key_; k <= std::min(lo - 1, max_key_); ++k) {
            double& c = counts_[static_cast<std::size_t>(k - offset_)];
            collapsed += c;
            c = 0;
        }
    }
    const auto size = static_cast<std::int64_t>(counts_.size());
    if (lo < offset_ || hi >= offset_ + size || counts_.empty()) {
        const auto needed = static_cast<std::size_t>(hi - lo + 1);
        // Doubling keeps growth amortised; room beyond the range goes where keys arrived.
        // A merge's receiver (an accumulator) gets twice the range: the next sketches it
        // merges mostly fall inside, so it reallocates about once.
        const std::size_t wanted = room == Room::both ? 2 * needed : needed;
        const std::size_t new_size =
            std::min(max_bins, std::max({wanted, counts_.size() * 2, std::size_t{16}}));
        const int spare = static_cast<int>(new_size - needed);
        const int new_offset = room == Room::up     ? lo
                               : room == Room::down ? lo - spare
                                                    : lo - spare / 2;
        std::vector<double> grown(new_size, 0.0);
        if (!empty()) {
            for (int k = std::max(min_key_, lo); k <= max_key_; ++k) {
                grown[static_cast<std::size_t>(k - new_offset)] = at(k);
            }
        }
        counts_.swap(grown);
        offset_ = new_offset;
    }
    if (collapsed != 0) {
        counts_[static_cast<std::size_t>(lo - offset_)] += collapsed;
    }
    min_key_ = lo;
    max_key_ = hi;
}

double DDSketch::BinStore::total() const {
    double t = 0;
    for (int k = min_key_; k <= max_key_; ++k) {
        t += at(k);
    }
    return t;
}

void DDSketch::BinStore::clear() {
    counts_.clear();
    counts_.shrink_to_fit();
    offset_ = 0;
    min_key_ = std::numeric_limits<int>::max();
    max_key_ = std::numeric_limits<int>::min();
}

void DDSketch::BinStore::assign(int min_key, std::vector<double> counts) {
    counts_ = std::move(counts);
    offset_ = min_key;
    min_key_ = min_key;
    max_key_ = min_key + static_cast<int>(counts_.size()) - 1;
}

bool DDSketch::BinStore::operator==(const BinStore& other) const {
    if (empty() || other.empty()) {
        return empty() == other.empty();
    }
    if (min_key_ != other.min_key_ || max_key_ != other.max_key_) {
        return false;
    }
    for (int k = min_key_; k <= max_key_; ++k) {
        if (!same_double(at(k), other.at(k))) {
            return false;
        }
    }
    return true;
}

// ---------------------------------------------------------------------------------------
// DDSketch

DDSketch::DDSketch(double relative_accuracy, std::size_t max_bins)
    : alpha_(relative_accuracy), max_bins_(max_bins) {
    if (!(relative_accuracy >= kMinRelativeAccuracy && relative_accuracy <= kMaxRelativeAccuracy)) {
        throw std::invalid_argument("DDSketch: relative accuracy outside [1e-4, 0.5]");
    }
    if (max_bins < 1 || max_bins > kMaxBinsLimit) {
        throw std::invalid_argument("DDSketch: max_bins outside [1, 65536]");
    }
    const double gamma = (1 + alpha_) / (1 - alpha_);
    log_gamma_ = std::log(gamma);
    inverse_log_gamma_ = 1 / log_gamma_;
    representative_factor_ = 2 / (1 + gamma);
}

double DDSketch::representative(int key) const {
    return std::exp(key * log_gamma_) * representative_factor_;
}

void DDSketch::merge(const DDSketch& other) {
    if (other.alpha_ != alpha_) {
        throw std::invalid_argument("DDSketch::merge: relative accuracies differ");
    }
    positive_.merge(other.positive_, max_bins_);
    negative_.merge(other.negative_, max_bins_);
    zero_count_ += other.zero_count_;
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

double DDSketch::clamp_to_range(double estimate) const {
    return std::clamp(estimate, min_, max_);
}

double DDSketch::quantile(double q) const {
    if (empty() || !(q >= 0 && q <= 1)) {
        return std::numeric_limits<double>::quiet_NaN();
    }
    if (q == 0) {
        return min_;
    }
    if (q == 1) {
        return max_;
    }
    const double rank = q * count_;
    double running = 0;
    // Value order: the negative store from its lowest (most negative) key, zero, positives.
    for (int k = negative_.min_key(); k <= negative_.max_key(); ++k) {
        const double c = negative_.at(k);
        running += c;
        if (c != 0 && running >= rank) {
            return clamp_to_range(-representative(-k));
        }
    }
    running += zero_count_;
    if (zero_count_ != 0 && running >= rank) {
        return clamp_to_range(0.0);
    }
    for (int k = positive_.min_key(); k <= positive_.max_key(); ++k) {
        const double c = positive_.at(k);
        running += c;
        if (c != 0 && running >= rank) {
            return clamp_to_range(representative(k));
        }
    }
    // Only rounding (fractional weights summed in another order) can leave the rank
    // unreached: it lies in the last bin.
    return max_;
}

void DDSketch::clear() {
    positive_.clear();
    negative_.clear();
    zero_count_ = 0;
    count_ = 0;
    sum_ = 0;
    min_ = std::numeric_limits<double>::infinity();
    max_ = -std::numeric_limits<double>::infinity();
}

std::vector<DDSketch::Bin> DDSketch::positive_bins() const {
    std::vector<Bin> bins;
    for (int k = positive_.min_key(); k <= positive_.max_key(); ++k) {
        if (positive_.at(k) != 0) {
            bins.push_back(Bin{k, positive_.at(k)});
        }
    }
    return bins;
}

std::vector<DDSketch::Bin> DDSketch::negative_bins() const {
    std::vector<Bin> bins;
    // Internal keys are negated: walking them downwards gives ascending key(-v).
    for (int k = negative_.max_key(); k >= negative_.min_key(); --k) {
        if (negative_.at(k) != 0) {
            bins.push_back(Bin{-k, negative_.at(k)});
        }
    }
    return bins;
}

std::size_t DDSketch::memory_bytes() const {
    return sizeof(DDSketch) + positive_.heap_bytes() + negative_.heap_bytes();
}

bool DDSketch::operator==(const DDSketch& other) const {
    return alpha_ == other.alpha_ && max_bins_ == other.max_bins_ &&
           same_double(zero_count_, other.zero_count_) && same_double(count_, other.count_) &&
           same_double(sum_, other.sum_) && same_double(min_, other.min_) &&
           same_double(max_, other.max_) && positive_ == other.positive_ &&
           negative_ == other.negative_;
}

// ---------------------------------------------------------------------------------------
// Encoding (the format is in the header's essay)

namespace {

void encode_store(std::string& out, int min_key, int max_key, bool empty, const auto& count_at) {
    if (empty) {
        codec::put_varint(out, 0);
        return;
    }
    codec::put_varint(out, static_cast<std::uint64_t>(max_key - min_key + 1));
    codec::put_varint(out, codec::zigzag(min_key));
    for (int k = min_key; k <= max_key; ++k) {
        put_count(out, count_at(k));
    }
}

struct DecodedStore {
    int min_key = 0;
    std::vector<double> counts;
};

// One store whose keys must lie in [lowest, highest]. nullopt when malformed.
std::optional<DecodedStore> decode_store(codec::Reader& in, std::size_t max_bins, int lowest,
                                         int highest) {
    auto n = in.varint();
    if (!n || *n > max_bins || *n > in.remaining()) {
        return std::nullopt;
    }
    DecodedStore store;
    if (*n == 0) {
        return store;
    }
    auto zz = in.varint();
    if (!zz) {
        return std::nullopt;
    }
    const std::int64_t min_key = codec::unzigzag(*zz);
    if (min_key < lowest || min_key + static_cast<std::int64_t>(*n) - 1 > highest) {
        return std::nullopt;
    }
    store.min_key = static_cast<int>(min_key);
    // Each count takes at least one input byte, so n is bounded by the input (checked above).
    store.counts.reserve(*n);
    for (std::uint64_t i = 0; i < *n; ++i) {
        auto c = read_count(in);
        if (!c) {
            return std::nullopt;
        }
        store.counts.push_back(*c);
    }
    if (store.counts.front() == 0 || store.counts.back() == 0) {
        return std::nullopt;
    }
    return store;
}

double store_total(const DecodedStore& store) {
    double t = 0;
    for (double c : store.counts) {
        t += c;
    }
    return t;
}

}  // namespace

void DDSketch::encode(std::string& out) const {
    out.push_back(static_cast<char>(kEncodingVersion));
    codec::put_double(out, alpha_);
    codec::put_varint(out, max_bins_);
    for (double v : {count_, sum_, min_, max_, zero_count_}) {
        codec::put_double(out, v);
    }
    encode_store(out, negative_.min_key(), negative_.max_key(), negative_.empty(),
                 [this](int k) { return negative_.at(k); });
    encode_store(out, positive_.min_key(), positive_.max_key(), positive_.empty(),
                 [this](int k) { return positive_.at(k); });
}

std::optional<DDSketch> DDSketch::decode(std::string_view bytes) {
    codec::Reader in(bytes);
    const auto version = in.byte();
    const auto alpha = in.f64();
    const auto max_bins = in.varint();
    if (!version || *version != kEncodingVersion || !alpha ||
        !(*alpha >= kMinRelativeAccuracy && *alpha <= kMaxRelativeAccuracy) || !max_bins ||
        *max_bins < 1 || *max_bins > kMaxBinsLimit) {
        return std::nullopt;
    }
    DDSketch sketch(*alpha, static_cast<std::size_t>(*max_bins));
    double figures[5];
    for (double& f : figures) {
        auto v = in.f64();
        if (!v) {
            return std::nullopt;
        }
        f = *v;
    }
    const auto [count, sum, min, max, zero_count] = figures;
    // Every finite magnitude maps into [lowest, highest]; the negative store negates keys.
    const int lowest = sketch.key(kMinIndexable);
    const int highest = sketch.key(DBL_MAX);
    auto negative = decode_store(in, sketch.max_bins_, -highest, -lowest);
    auto positive = negative ? decode_store(in, sketch.max_bins_, lowest, highest) : std::nullopt;
    if (!positive || !in.at_end()) {
        return std::nullopt;
    }
    if (!std::isfinite(count) || !(count >= 0) || !std::isfinite(zero_count) ||
        !(zero_count >= 0)) {
        return std::nullopt;
    }
    const double total = zero_count + store_total(*negative) + store_total(*positive);
    if (count == 0) {
        // Only the empty sketch, exactly as clear() leaves it.
        if (total != 0 || !same_double(sum, 0.0) || min != sketch.min_ || max != sketch.max_) {
            return std::nullopt;
        }
        return sketch;
    }
    if (!(std::abs(total - count) <= kCountTolerance * count) || !std::isfinite(min) ||
        !std::isfinite(max) || !(min <= max)) {
        return std::nullopt;
    }
    if (!negative->counts.empty()) {
        sketch.negative_.assign(negative->min_key, std::move(negative->counts));
    }
    if (!positive->counts.empty()) {
        sketch.positive_.assign(positive->min_key, std::move(positive->counts));
    }
    sketch.count_ = count;
    sketch.sum_ = sum;
    sketch.min_ = min;
    sketch.max_ = max;
    sketch.zero_count_ = zero_count;
    return sketch;
}

}  // namespace tally::sketch
