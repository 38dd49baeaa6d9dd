#include "tally/sketch/distinct_set.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

#include "byte_codec.hpp"

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
    const auto at = std::lower_bound(hashes_.begin(), hashes_.end(), hash);
    if (at != hashes_.end() && *at == hash) {
        return;
    }
    hashes_.insert(at, hash);
    if (hashes_.size() > kMaxExactHashes) {
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
    std::vector<std::uint64_t> both;
    both.reserve(hashes_.size() + other.hashes_.size());
    std::set_union(hashes_.begin(), hashes_.end(), other.hashes_.begin(), other.hashes_.end(),
                   std::back_inserter(both));
    hashes_ = std::move(both);
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
    codec::put_varint(out, hashes_.size());
    for (const std::uint64_t h : hashes_) {
        codec::put_u64_le(out, h);
    }
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
    const auto n = in.varint();
    if (*form != kFormSmall || !n || *n > kMaxExactHashes || *n * 8 != in.remaining()) {
        return std::nullopt;
    }
    set.hashes_.reserve(*n);
    for (std::uint64_t i = 0; i < *n; ++i) {
        const std::uint64_t h = *in.u64_le();  // present: the length was checked above
        if (!set.hashes_.empty() && h <= set.hashes_.back()) {
            return std::nullopt;
        }
        set.hashes_.push_back(h);
    }
    return set;
}

bool DistinctSet::operator==(const DistinctSet& other) const {
    if (hll_ || other.hll_) {
        return hll_ && other.hll_ && *hll_ == *other.hll_;
    }
    return hashes_ == other.hashes_;
}

}  // namespace tally::sketch
