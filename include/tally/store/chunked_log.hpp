#pragma once
// ChunkedLog<T>: a sequence that only grows, stored in chunks that never move, so that a
// reader can copy it while the owner keeps appending.
//
// Why: a snapshot must not hold a shard's lock while it serialises a day's funnel log
// (millions of 16-byte steps on a busy day: 80-160 ms). With this layout it takes a View
// under the lock (the chunk pointers and the length: a few hundred pointer copies), lets
// the lock go, and reads the first `length` elements at leisure. That is safe because
// the owner only ever writes elements at or past `length` (new objects, never the ones
// the reader sees), the elements before it were written before the lock was released
// (the mutex orders them), and the View shares ownership of its chunks, so dropping the
// log (retention) does not free what a reader still holds.
//
// Layout: chunk k holds kFirst << k elements, so chunk sizes double like a vector's
// capacity (at most half of the last chunk is unused) but nothing is ever copied, and
// element i is found in O(1): with q = i + kFirst, chunk = bit_width(q) - 1 - log2(kFirst),
// offset = q - (kFirst << chunk).
//
// Cost: one allocation per chunk (log2(n) of them), the elements default-constructed when
// their chunk is made. Not thread-safe by itself: the owner's lock orders appends and
// View creation.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <memory>
#include <vector>

namespace tally::store {

template <typename T>
class ChunkedLog {
  public:
    static constexpr std::size_t kFirst = 16;  // a power of two

    ChunkedLog() = default;
    ChunkedLog(ChunkedLog&&) noexcept = default;
    ChunkedLog& operator=(ChunkedLog&&) noexcept = default;
    ChunkedLog(const ChunkedLog&) = delete;  // would share chunks with the original
    ChunkedLog& operator=(const ChunkedLog&) = delete;

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

    /// Appends and returns the new element; its address never changes.
    T& push_back(T value) {
        const Place p = place(size_);
        if (p.chunk == chunks_.size())
            chunks_.push_back(std::make_shared<T[]>(kFirst << p.chunk));
        T& slot = chunks_[p.chunk][p.offset];
        slot = std::move(value);
        ++size_;
        return slot;
    }

    const T& operator[](std::size_t i) const {
        const Place p = place(i);
        return chunks_[p.chunk][p.offset];
    }

    template <typename Fn>
    void for_each(Fn&& fn) const {
        for_each_in(chunks_, size_, fn);
    }

    /// The first size() elements, readable after the owner's lock is released.
    class View {
      public:
        std::size_t size() const { return size_; }
        const T& operator[](std::size_t i) const {
            const Place p = place(i);
            return chunks_[p.chunk][p.offset];
        }
        template <typename Fn>
        void for_each(Fn&& fn) const {
            for_each_in(chunks_, size_, fn);
        }

      private:
        friend class ChunkedLog;
        std::vector<std::shared_ptr<T[]>> chunks_;
        std::size_t size_ = 0;
    };

    /// Call under the owner's lock.
    View view() const {
        View v;
        v.chunks_ = chunks_;
        v.size_ = size_;
        return v;
    }

  private:
    struct Place {
        std::size_t chunk;
        std::size_t offset;
    };
    static Place place(std::size_t i) {
        constexpr int kFirstBits = std::countr_zero(kFirst);
        const std::size_t q = i + kFirst;
        const auto chunk = static_cast<std::size_t>(std::bit_width(q)) - 1 - kFirstBits;
        return Place{chunk, q - (kFirst << chunk)};
    }
    template <typename Fn>
    static void for_each_in(const std::vector<std::shared_ptr<T[]>>& chunks, std::size_t size,
                            Fn& fn) {
        std::size_t left = size;
        for (std::size_t k = 0; k < chunks.size() && left > 0; ++k) {
            const std::size_t n = std::min(left, kFirst << k);
            for (std::size_t j = 0; j < n; ++j)
                fn(chunks[k][j]);
            left -= n;
        }
    }

    std::vector<std::shared_ptr<T[]>> chunks_;
    std::size_t size_ = 0;
};

}  // namespace tally::store
