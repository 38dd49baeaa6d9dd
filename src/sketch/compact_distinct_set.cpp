#include "tally/sketch/compact_distinct_set.hpp"

#include <algorithm>
#include <bit>
#include <utility>

#include "byte_codec.hpp"
#include "sorted_hashes.hpp"
#include "tally/sketch/hyperloglog.hpp"

namespace tally::sketch {

namespace {

constexpr std::uint8_t kFormSmall = 0;
constexpr std::uint8_t kFormLarge = 1;
constexpr std::uint8_t kMaxRegister = CompactDistinctSet::kQ + 1;

}  // namespace

CompactDistinctSet::CompactDistinctSet(const CompactDistinctSet& other)
    : hashes_(other.hashes_),
      registers_(other.registers_ ? std::make_unique<Registers>(*other.registers_) : nullptr) {}

CompactDistinctSet& CompactDistinctSet::operator=(const CompactDistinctSet& other) {
    if (this != &other) {
        CompactDistinctSet copy(other);
        *this = std::move(copy);
    }
    return *this;
}

void CompactDistinctSet::add_to(Registers& registers, std::uint64_t hash) {
    // A guard bit above the 54 value bits bounds the run at 55 when they are all zero.
    const std::size_t index = hash & (kRegisters - 1);
    const std::uint64_t rest = (hash >> kP) | (std::uint64_t{1} << kQ);
    const auto value = static_cast<std::uint8_t>(std::countr_zero(rest) + 1);
    registers[index] = std::max(registers[index], value);
}

void CompactDistinctSet::add_hash(std::uint64_t hash) {
    if (registers_) {
        add_to(*registers_, hash);
        return;
    }
    if (sorted_hashes::insert(hashes_, hash) && hashes_.size() > kMaxExactHashes)
        promote();
}

void CompactDistinctSet::promote() {
    registers_ = std::make_unique<Registers>();
    registers_->fill(0);
    for (const std::uint64_t h : hashes_)
        add_to(*registers_, h);
    std::vector<std::uint64_t>().swap(hashes_);  // a large set keeps no dead hashes
}

void CompactDistinctSet::merge(const CompactDistinctSet& other) {
    if (this == &other)
        return;
    if (other.registers_) {
        if (!registers_)
            promote();
        // Plain pointers: byte stores may alias anything, so through the unique_ptrs the
        // compiler would reload them every register and not vectorise the loop.
        std::uint8_t* mine = registers_->data();
        const std::uint8_t* theirs = other.registers_->data();
        for (std::size_t i = 0; i < kRegisters; ++i)
            mine[i] = std::max(mine[i], theirs[i]);
        return;
    }
    if (registers_) {
        for (const std::uint64_t h : other.hashes_)
            add_to(*registers_, h);
        return;
    }
    sorted_hashes::unite(hashes_, other.hashes_);
    if (hashes_.size() > kMaxExactHashes)
        promote();
}

std::uint64_t CompactDistinctSet::count() const {
    if (!registers_)
        return hashes_.size();
    int histogram[kMaxRegister + 1] = {};
    for (const std::uint8_t r : *registers_)
        ++histogram[r];
    return ertl_estimate(histogram, kRegisters, kQ);
}

std::size_t CompactDistinctSet::memory_bytes() const {
    return sizeof(CompactDistinctSet) + hashes_.capacity() * sizeof(std::uint64_t) +
           (registers_ ? sizeof(Registers) : 0);
}

void CompactDistinctSet::encode(std::string& out) const {
    out.push_back(static_cast<char>(kEncodingVersion));
    if (registers_) {
        out.push_back(static_cast<char>(kFormLarge));
        out.append(reinterpret_cast<const char*>(registers_->data()), kRegisters);
        return;
    }
    out.push_back(static_cast<char>(kFormSmall));
    sorted_hashes::encode(out, hashes_);
}

std::optional<CompactDistinctSet> CompactDistinctSet::decode(std::string_view bytes) {
    codec::Reader in(bytes);
    const auto version = in.byte();
    const auto form = in.byte();
    if (!version || *version != kEncodingVersion || !form)
        return std::nullopt;
    CompactDistinctSet set;
    if (*form == kFormLarge) {
        const std::string_view registers = in.rest();
        if (registers.size() != kRegisters)
            return std::nullopt;
        set.registers_ = std::make_unique<Registers>();
        for (std::size_t i = 0; i < kRegisters; ++i) {
            const auto r = static_cast<std::uint8_t>(registers[i]);
            if (r > kMaxRegister)
                return std::nullopt;
            (*set.registers_)[i] = r;
        }
        return set;
    }
    if (*form != kFormSmall)
        return std::nullopt;
    auto hashes = sorted_hashes::decode(in, kMaxExactHashes);
    if (!hashes)
        return std::nullopt;
    set.hashes_ = std::move(*hashes);
    return set;
}

bool CompactDistinctSet::operator==(const CompactDistinctSet& other) const {
    if (registers_ || other.registers_)
        return registers_ && other.registers_ && *registers_ == *other.registers_;
    return hashes_ == other.hashes_;
}

}  // namespace tally::sketch
