#include "tally/metrics/series_cache.hpp"

#include <cstring>
#include <limits>
#include <random>
#include <string_view>

namespace tally::metrics {

namespace {

constexpr std::uint64_t kOdd = 0x9E3779B97F4A7C15ULL;

std::uint64_t load8(const char* p) {
    std::uint64_t v = 0;
    std::memcpy(&v, p, sizeof v);
    return v;
}

std::uint64_t load4(const char* p) {
    std::uint32_t v = 0;
    std::memcpy(&v, p, sizeof v);
    return v;
}

std::uint64_t byte(char c) {
    return static_cast<unsigned char>(c);
}

__extension__ using Uint128 = unsigned __int128;  // GCC and Clang's; one mul instruction

// The 128-bit product folded to 64 bits: every output bit depends on every input bit.
std::uint64_t fold_mul(std::uint64_t a, std::uint64_t b) {
    const Uint128 product = static_cast<Uint128>(a) * b;
    return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
}

// Mixes one field into `h`: its words, then its last (up to 8) bytes with its length, so
// that moving a boundary between fields ("ab","c" and "a","bc") changes the hash.
std::uint64_t absorb(std::uint64_t h, std::uint64_t seed, std::string_view field) {
    const char* p = field.data();
    const std::size_t n = field.size();
    std::uint64_t tail = 0;
    if (n >= 8) {
        const char* last = p + n - 8;
        for (; p < last; p += 8)
            h = fold_mul(load8(p) ^ seed, h ^ kOdd);
        tail = load8(last);
    } else if (n >= 4) {
        tail = load4(p) << 32 | load4(p + n - 4);
    } else if (n > 0) {
        tail = byte(p[0]) << 16 | byte(p[n / 2]) << 8 | byte(p[n - 1]);
    }
    return fold_mul(tail ^ seed, h ^ kOdd ^ n);
}

// memcmp(a, b, n) == 0 without a library call: fields are short (names, tag values), so
// the call cost more than the compare.
bool same_bytes(const char* a, const char* b, std::size_t n) {
    if (n >= 8) {
        for (std::size_t i = 0; i + 8 < n; i += 8) {
            if (load8(a + i) != load8(b + i))
                return false;
        }
        return load8(a + n - 8) == load8(b + n - 8);
    }
    if (n >= 4)
        return load4(a) == load4(b) && load4(a + n - 4) == load4(b + n - 4);
    for (std::size_t i = 0; i < n; ++i) {
        if (a[i] != b[i])
            return false;
    }
    return true;
}

// Whether `key` starts with `field`; if so, drops it from `key`.
bool take(std::string_view& key, std::string_view field) {
    if (key.size() < field.size() || !same_bytes(key.data(), field.data(), field.size()))
        return false;
    key.remove_prefix(field.size());
    return true;
}

// Whether `key` starts with a NUL and then `field`; if so, drops both from `key`.
bool take_after_separator(std::string_view& key, std::string_view field) {
    if (key.empty() || key.front() != '\0')
        return false;
    key.remove_prefix(1);
    return take(key, field);
}

// Whether `key` is the key series_key() would build from `point`.
bool key_matches(std::string_view key, const MetricPoint& point) {
    if (!take(key, point.workspace) || !take_after_separator(key, point.name))
        return false;
    for (const MetricTag& tag : point.tags) {
        if (!take_after_separator(key, tag.key) || !take_after_separator(key, tag.value))
            return false;
    }
    return key.empty();
}

constexpr std::size_t kFirstCapacity = 64;

}  // namespace

SeriesCache::SeriesCache()
    : seed_(std::uint64_t{std::random_device{}()} << 32 | std::random_device{}()),
      slots_(kFirstCapacity) {}

std::uint64_t SeriesCache::hash_of(const MetricPoint& point) const {
    std::uint64_t h = absorb(seed_, seed_, point.workspace);
    h = absorb(h, seed_, point.name);
    for (const MetricTag& tag : point.tags) {
        h = absorb(h, seed_, tag.key);
        h = absorb(h, seed_, tag.value);
    }
    return h;
}

void SeriesCache::prefetch(std::uint64_t hash) const {
    __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
}

void SeriesCache::prefetch_key(std::uint64_t hash) const {
    const Slot& slot = slots_[hash & (slots_.size() - 1)];
    if (slot.hash == hash && slot.key_size != 0)
        __builtin_prefetch(keys_.data() + slot.key_at);
}

const SeriesRegistry::Found* SeriesCache::find(const MetricPoint& point, std::uint64_t hash) const {
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
        const Slot& slot = slots_[i];
        if (slot.key_size == 0)
            return nullptr;
        if (slot.hash == hash &&
            key_matches(std::string_view(keys_).substr(slot.key_at, slot.key_size), point))
            return &slot.found;
    }
}

void SeriesCache::insert(std::uint64_t hash, std::string_view key,
                         const SeriesRegistry::Found& found) {
    // Offsets are 32-bit: past 4 GiB of keys (impossible under the series caps) the series
    // is simply not cached, and its points ask the registry.
    if (key.empty() || keys_.size() + key.size() > std::numeric_limits<std::uint32_t>::max())
        return;
    if (2 * (size_ + 1) > slots_.size())
        grow();
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = hash & mask;
    while (slots_[i].key_size != 0)
        i = (i + 1) & mask;
    slots_[i] = Slot{hash, static_cast<std::uint32_t>(keys_.size()),
                     static_cast<std::uint32_t>(key.size()), found};
    keys_.append(key);
    ++size_;
}

void SeriesCache::grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
        if (slot.key_size == 0)
            continue;
        std::size_t i = slot.hash & mask;
        while (slots_[i].key_size != 0)
            i = (i + 1) & mask;
        slots_[i] = slot;
    }
}

}  // namespace tally::metrics
