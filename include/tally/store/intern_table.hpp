#pragma once
// InternTable: string -> dense id, for names whose strings live elsewhere, indexed by id
// (the funnel log's labels and identities, kept in a ChunkedLog<std::string>).
//
// Why not std::unordered_map<std::string_view, uint32_t>: a day holds 10^5..10^6
// identities and every event looks one up. A node-based map costs a bucket load, a node
// load and a load of the string for each probe; at that size each is a cache miss, and
// replay and ingest spent a third of their time there. This table is one flat array of
// (hash, id) slots with linear probing: a lookup loads one slot (usually the right one),
// compares the full 64-bit hash, and reads the string only when the hashes agree, so a
// hit costs about two misses and a miss about one.
//
// Invariants: capacity is a power of two and at least twice the size (load <= 1/2, so
// probe runs stay short); an empty slot has id kEmpty; a string is inserted at most once
// (the caller looks it up first). Rehashing uses the stored hashes, never the strings.
// Cost: 16 bytes per slot, so 32..64 bytes per name on top of the string.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace tally::store {

class InternTable {
  public:
    static std::size_t hash(std::string_view s) { return std::hash<std::string_view>{}(s); }

    /// The id of `key` (whose hash is `h`), or nullopt. `name_of(id)` gives an id's string.
    template <typename NameOf>
    std::optional<std::uint32_t> find(std::string_view key, std::size_t h,
                                      const NameOf& name_of) const {
        if (slots_.empty())
            return std::nullopt;
        const std::size_t mask = slots_.size() - 1;
        for (std::size_t i = h & mask;; i = (i + 1) & mask) {
            const Slot& slot = slots_[i];
            if (slot.id == kEmpty)
                return std::nullopt;
            if (slot.hash == h && name_of(slot.id) == key)
                return slot.id;
        }
    }

    /// Adds `id` under hash `h`; the caller has checked that its string is absent.
    void insert(std::size_t h, std::uint32_t id) {
        if ((size_ + 1) * 2 > slots_.size())
            grow(slots_.empty() ? 16 : slots_.size() * 2);
        place(h, id);
        ++size_;
    }

    void reserve(std::size_t count) {
        std::size_t capacity = 16;
        while (capacity < count * 2)
            capacity *= 2;
        if (capacity > slots_.size())
            grow(capacity);
    }

    std::size_t size() const { return size_; }

  private:
    static constexpr std::uint32_t kEmpty = UINT32_MAX;
    struct Slot {
        std::size_t hash = 0;
        std::uint32_t id = kEmpty;
    };

    void place(std::size_t h, std::uint32_t id) {
        const std::size_t mask = slots_.size() - 1;
        std::size_t i = h & mask;
        while (slots_[i].id != kEmpty)
            i = (i + 1) & mask;
        slots_[i] = Slot{h, id};
    }

    void grow(std::size_t capacity) {
        std::vector<Slot> old(capacity);
        old.swap(slots_);
        for (const Slot& slot : old) {
            if (slot.id != kEmpty)
                place(slot.hash, slot.id);
        }
    }

    std::vector<Slot> slots_;
    std::size_t size_ = 0;
};

}  // namespace tally::store
