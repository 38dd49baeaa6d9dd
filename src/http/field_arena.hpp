#pragma once
// A per-session bump allocator for Beast's header fields.
//
// Beast's basic_fields allocates one block per header field, plus one for the method and
// target: about ten malloc/free pairs per request and answer, which showed up in perf under
// wrk (malloc and free were the largest user-space items after Beast's serializer). Both the
// request's fields and the answer's live only from the start of a request to the end of its
// answer, so a small buffer inside the session serves them all: allocation is a pointer bump,
// deallocation only counts, and when the count of live blocks falls to zero (the parser of
// the last request and the answer are gone) the buffer starts over. Whatever does not fit
// (big cookies) goes to the heap as before.

#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>

namespace tally::http {

class field_arena {
  public:
    static constexpr std::size_t capacity = 3072;  // a browser's tracking request fits

    field_arena() = default;
    field_arena(const field_arena&) = delete;
    field_arena& operator=(const field_arena&) = delete;

    void* allocate(std::size_t bytes, std::size_t align) {
        const std::size_t start = (used_ + align - 1) & ~(align - 1);
        if (align <= alignof(std::max_align_t) && start + bytes <= capacity) {
            used_ = start + bytes;
            ++live_;
            return buffer_ + start;
        }
        return ::operator new(bytes);
    }

    void deallocate(void* p) noexcept {
        const auto* b = static_cast<const std::byte*>(p);
        // std::less gives a total order even for pointers into different objects.
        if (!std::less<const std::byte*>{}(b, buffer_) &&
            std::less<const std::byte*>{}(b, buffer_ + capacity)) {
            if (--live_ == 0) {
                used_ = 0;  // nothing in the buffer is in use: start over
            }
            return;
        }
        ::operator delete(p);
    }

  private:
    alignas(std::max_align_t) std::byte buffer_[capacity];
    std::size_t used_ = 0;
    std::size_t live_ = 0;
};

/// A std allocator over a field_arena; default-constructed (no arena), it uses the heap,
/// so Beast may default-construct fields anywhere without harm.
template <class T>
class arena_allocator {
  public:
    using value_type = T;
    // Moving fields moves their allocator along, so blocks are always returned to their arena.
    using propagate_on_container_move_assignment = std::true_type;
    using propagate_on_container_copy_assignment = std::true_type;
    using propagate_on_container_swap = std::true_type;

    arena_allocator() noexcept = default;
    explicit arena_allocator(field_arena* arena) noexcept : arena_(arena) {}
    template <class U>
    arena_allocator(const arena_allocator<U>& other) noexcept : arena_(other.arena()) {}

    T* allocate(std::size_t n) {
        if (arena_ == nullptr) {
            return std::allocator<T>{}.allocate(n);
        }
        return static_cast<T*>(arena_->allocate(n * sizeof(T), alignof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept {
        if (arena_ == nullptr) {
            return std::allocator<T>{}.deallocate(p, n);
        }
        arena_->deallocate(p);
    }

    field_arena* arena() const noexcept { return arena_; }

  private:
    field_arena* arena_ = nullptr;
};

template <class T, class U>
bool operator==(const arena_allocator<T>& a, const arena_allocator<U>& b) noexcept {
    return a.arena() == b.arena();
}

}  // namespace tally::http
