#include "tally/sketch/distinct_set.hpp"

#include <utility>

#include "byte_codec.hpp"
#include "sorted_hashes.hpp"

namespace tally::sketch {

namespace {

constexpr std::uint8_t kFormSmall = 0;
constexpr std::uint8_t kFormLarge = 1;

}  // namespace

DistinctSet::DistinctSet(const DistinctSet& other)
    : hashes_(other.hashes_),
      hll_(other.hll_ ? std::make_unique<HyperLogLog>(*other.hll_) : nullptr) {}

DistinctSet& DistinctSet::operator=(const DistinctSet& other) {
    if (this != &other) {
        DistinctSet copy(other);
        *this = std::move(copy);
    }
    return *this;
}

void DistinctSet::add_hash(std::uint64_t hash) {
    if (hll_) {
        hll_->add_hash(hash);
        return;
    }
    if (sorted_hashes::insert(hashes_, hash) && hashes_.size() > kMaxExactHashes) {
        promote();
    }
}

void DistinctSet::promote() {
    hll_ = std::make_unique<HyperLogLog>();
    for (const std::uint64_t h : hashes_) {
        hll_->add_hash(h);
    }
    // Release the vector's memory too: a large set must not keep 4 KiB of dead hashes.
    std::vector<std::uint64_t>().swap(hashes_);
}

void DistinctSet::merge(const DistinctSet& other) {
    if (this == &other) {
        return;  // a union with itself changes nothing
    }
    if (other.hll_) {
        if (!hll_) {
            auto large = std::make_unique<HyperLogLog>(*other.hll_);
            for (const std::uint64_t h : hashes_) {
                large->add_hash(h);
            }
            hll_ = std::move(large);
            std::vector<std::uint64_t>().swap(hashes_);
        } else {
            hll_->merge(*other.hll_);
        }
        return;
    }
    if (hll_) {
        for (const std::uint64_t h : other.hashes_) {
            hll_->add_hash(h);
        }
        return;
    }
    sorted_hashes::unite(hashes_, other.hashes_);
    if (hashes_.size() > kMaxExactHashes) {
        promote();
    }
}

std::uint64_t DistinctSet::count() const {
    return hll_ ? hll_->count() : hashes_.size();
}

HyperLogLog DistinctSet::to_hyperloglog() const {
    if (hll_) {
        return *hll_;
    }
    HyperLogLog hll;
    for (const std::uint64_t h : hashes_) {
        hll.add_hash(h);
    }
    return hll;
}

std::size_t DistinctSet::memory_bytes() const {
    return sizeof(DistinctSet) + hashes_.capacity() * sizeof(std::uint64_t) +
           (hll_ ? sizeof(HyperLogLog) : 0);
}

void DistinctSet::encode(std::string& out) const {
    out.push_back(static_cast<char>(kEncodingVersion));
    if (hll_) {
        out.push_back(static_cast<char>(kFormLarge));
        out += hll_->dense_bytes();
        return;
    }
    out.push_back(static_cast<char>(kFormSmall));
    sorted_hashes::encode(out, hashes_);
}

std::optional<DistinctSet> DistinctSet::decode(std::string_view bytes) {
    codec::Reader in(bytes);
    const auto version = in.byte();
    const auto form = in.byte();
    if (!version || *version != kEncodingVersion || !form) {
        return std::nullopt;
    }
    DistinctSet set;
    if (*form == kFormLarge) {
        auto hll = HyperLogLog::from_redis_bytes(in.rest());
        if (!hll) {
            return std::nullopt;
        }
        set.hll_ = std::make_unique<HyperLogLog>(*hll);
        return set;
    }
    if (*form != kFormSmall) {
        return std::nullopt;
    }
    auto hashes = sorted_hashes::decode(in, kMaxExactHashes);
    if (!hashes) {
        return std::nullopt;
    }
    set.hashes_ = std::move(*hashes);
    return set;
}

bool DistinctSet::operator==(const DistinctSet& other) const {
    if (hll_ || other.hll_) {
        return hll_ && other.hll_ && *hll_ == *other.hll_;
    }
    return hashes_ == other.hashes_;
}

}  // namespace tally::sketch
