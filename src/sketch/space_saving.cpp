#include "tally/sketch/space_saving.hpp"

#include <algorithm>
#include <cassert>
#include <functional>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace tally::sketch {

namespace {

// Lets the index be probed with a string_view: looking up a monitored member, the hot
// path, builds no std::string.
struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();

// top()'s ranking: count descending, then member ascending.
bool ranks_before(std::uint64_t count_a, std::string_view member_a, std::uint64_t count_b,
                  std::string_view member_b) {
    if (count_a != count_b)
        return count_a > count_b;
    return member_a < member_b;
}

}  // namespace

// The summary's state, a stream-summary (Metwally et al.): every distinct count value
// has a bucket, the buckets form a list in ascending count order, and each bucket holds
// the list of counters at that count. The minimum is the first counter of the first
// bucket, and adding 1 moves a counter to the next bucket or to a new one right after
// its own: O(1) with no search and no comparison of members.
//
// Counters and buckets live in vectors and link to each other by 32-bit index, so the
// structure allocates only while it grows: a full summary recycles evicted counters, and
// emptied buckets go to a free list. The hash map owns each member's string and maps it
// to its counter; the counter points back at that string, whose address is stable
// because unordered_map never moves its nodes.
struct SpaceSaving::Impl {
    using Index = std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>>;

    struct Counter {
        const std::string* member;  // the key of this counter's node in `index`
        std::uint64_t count;
        std::uint64_t error;
        std::uint32_t bucket;  // the bucket holding `count`
        std::uint32_t prev;    // neighbours in the bucket's list
        std::uint32_t next;
    };

    struct Bucket {
        std::uint64_t count;
        std::uint32_t first;  // oldest counter at this count: the next to be evicted
        std::uint32_t last;
        std::uint32_t prev;  // neighbours in the ascending bucket list
        std::uint32_t next;
    };

    std::size_t capacity;
    std::uint64_t total = 0;
    // The largest count ever evicted (or dropped by a merge): an upper bound of the true
    // frequency of every unmonitored member (invariant I2), 0 while exact.
    std::uint64_t floor = 0;
    Index index;
    std::vector<Counter> counters;
    std::vector<Bucket> buckets;
    std::vector<std::uint32_t> free_buckets;
    std::uint32_t min_bucket = kNone;
    std::uint32_t max_bucket = kNone;

    explicit Impl(std::size_t cap) : capacity(cap) {}

    Impl(const Impl& other)
        : capacity(other.capacity),
          total(other.total),
          floor(other.floor),
          index(other.index),
          counters(other.counters),
          buckets(other.buckets),
          free_buckets(other.free_buckets),
          min_bucket(other.min_bucket),
          max_bucket(other.max_bucket) {
        // The copied counters still point at the other map's strings.
        for (const auto& [member, slot] : index)
            counters[slot].member = &member;
        // A vector copy has no spare capacity; restore the room moves rely on.
        grow(counters.size());
    }
    Impl& operator=(const Impl&) = delete;

    // A new, empty bucket for `count`, linked right after `after` (at the front when
    // kNone). The caller keeps the list ascending.
    std::uint32_t new_bucket_after(std::uint32_t after, std::uint64_t count) {
        std::uint32_t b;
        if (!free_buckets.empty()) {
            b = free_buckets.back();
            free_buckets.pop_back();
        } else {
            b = static_cast<std::uint32_t>(buckets.size());
            buckets.emplace_back();
        }
        const std::uint32_t next = after == kNone ? min_bucket : buckets[after].next;
        buckets[b] = Bucket{count, kNone, kNone, after, next};
        (after == kNone ? min_bucket : buckets[after].next) = b;
        (next == kNone ? max_bucket : buckets[next].prev) = b;
        return b;
    }

    // Appends counter `c` to bucket `b`: among equal counts, the newest goes last.
    void link(std::uint32_t c, std::uint32_t b) {
        Bucket& bucket = buckets[b];
        counters[c].bucket = b;
        counters[c].prev = bucket.last;
        counters[c].next = kNone;
        (bucket.last == kNone ? bucket.first : counters[bucket.last].next) = c;
        bucket.last = c;
    }

    // Takes counter `c` out of its bucket, and drops the bucket if that emptied it.
    void unlink(std::uint32_t c) {
        const Counter& counter = counters[c];
        const std::uint32_t b = counter.bucket;
        Bucket& bucket = buckets[b];
        (counter.prev == kNone ? bucket.first : counters[counter.prev].next) = counter.next;
        (counter.next == kNone ? bucket.last : counters[counter.next].prev) = counter.prev;
        if (bucket.first != kNone)
            return;
        (bucket.prev == kNone ? min_bucket : buckets[bucket.prev].next) = bucket.next;
        (bucket.next == kNone ? max_bucket : buckets[bucket.next].prev) = bucket.prev;
        free_buckets.push_back(b);
    }

    // The bucket for `count`, found by walking up from `from` (kNone: the front), which
    // must hold a smaller count if any. Every bucket passed holds a distinct count between
    // the two, so a move by weight w passes at most w - 1 buckets: O(1) for w = 1.
    std::uint32_t bucket_for(std::uint32_t from, std::uint64_t count) {
        std::uint32_t pos = from;
        for (;;) {
            const std::uint32_t next = pos == kNone ? min_bucket : buckets[pos].next;
            if (next == kNone || buckets[next].count > count)
                break;
            if (buckets[next].count == count)
                return next;
            pos = next;
        }
        return new_bucket_after(pos, count);
    }

    // Raises counter `c` to `count`, which is larger than its current count.
    void move_to(std::uint32_t c, std::uint64_t count) {
        const std::uint32_t target = bucket_for(counters[c].bucket, count);
        unlink(c);
        counters[c].count = count;
        link(c, target);
    }

    // Geometric growth, but never past what a full summary needs, so a full summary
    // carries no slack: `limit` is the most the vector will ever hold.
    template <typename T>
    static void grow_for(std::vector<T>& v, std::size_t need, std::size_t limit) {
        if (v.capacity() < need)
            v.reserve(std::min(std::max(need, 2 * v.capacity()), limit));
    }

    // At most one bucket per counter is in use, plus one while a counter moves (the new
    // bucket is made before the old one empties), and the free list never holds more than
    // were made. Growing both here, while a new member allocates anyway, is what keeps
    // every later add of a monitored member, and every eviction, free of allocation.
    void grow(std::size_t counters_needed) {
        grow_for(counters, counters_needed, capacity);
        grow_for(buckets, counters_needed + 1, capacity + 1);
        grow_for(free_buckets, counters_needed + 1, capacity + 1);
    }

    // Adds a member known not to be monitored, into a free counter.
    std::uint64_t insert(std::string_view member, std::uint64_t count, std::uint64_t error) {
        const auto c = static_cast<std::uint32_t>(counters.size());
        grow(counters.size() + 1);
        auto [it, inserted] = index.emplace(std::string(member), c);
        assert(inserted);
        counters.push_back(Counter{&it->first, count, error, kNone, kNone, kNone});
        link(c, bucket_for(kNone, count));
        return count;
    }

    // Hands the minimum's counter to `member` (the summary is full). The evicted member's
    // map node and string buffer are reused, so this allocates only when the new member
    // does not fit the old buffer.
    std::uint64_t replace_min(std::string_view member, std::uint64_t weight, std::string* evicted) {
        const std::uint32_t c = buckets[min_bucket].first;
        Counter& counter = counters[c];
        floor = std::max(floor, counter.count);
        if (evicted)
            evicted->assign(*counter.member);

        auto node = index.extract(*counter.member);
        node.key().assign(member.data(), member.size());
        auto result = index.insert(std::move(node));
        assert(result.inserted);

        counter.member = &result.position->first;
        counter.error = floor;
        move_to(c, floor + weight);
        return counter.count;
    }

    const Counter* find(std::string_view member) const {
        auto it = index.find(member);
        return it == index.end() ? nullptr : &counters[it->second];
    }

    Entry entry(std::uint32_t c) const {
        return Entry{*counters[c].member, counters[c].count, counters[c].error};
    }
};

SpaceSaving::SpaceSaving(std::size_t capacity) {
    // Counters are 32-bit indices; the limit is far beyond any useful capacity.
    if (capacity == 0 || capacity >= kNone) {
        throw std::invalid_argument("SpaceSaving: capacity must be in [1, 2^32 - 1)");
    }
    impl_ = std::make_unique<Impl>(capacity);
}

SpaceSaving::SpaceSaving(const SpaceSaving& other)
    : impl_(other.impl_ ? std::make_unique<Impl>(*other.impl_) : nullptr) {}

SpaceSaving& SpaceSaving::operator=(const SpaceSaving& other) {
    if (this != &other)
        impl_ = other.impl_ ? std::make_unique<Impl>(*other.impl_) : nullptr;
    return *this;
}

SpaceSaving::SpaceSaving(SpaceSaving&&) noexcept = default;

// Swapping leaves `other` a valid summary (this one's old state) rather than an empty
// shell.
SpaceSaving& SpaceSaving::operator=(SpaceSaving&& other) noexcept {
    impl_.swap(other.impl_);
    return *this;
}

SpaceSaving::~SpaceSaving() = default;

std::uint64_t SpaceSaving::add(std::string_view member, std::uint64_t weight) {
    return add(member, weight, nullptr, nullptr);
}

bool SpaceSaving::add_reporting_eviction(std::string_view member, std::string& evicted,
                                         std::uint64_t weight) {
    bool did_evict = false;
    add(member, weight, &evicted, &did_evict);
    return did_evict;
}

std::uint64_t SpaceSaving::add(std::string_view member, std::uint64_t weight, std::string* evicted,
                               bool* did_evict) {
    Impl& s = *impl_;
    if (weight == 0)
        return count_of(member);
    s.total += weight;

    if (auto it = s.index.find(member); it != s.index.end()) {
        const std::uint32_t c = it->second;
        s.move_to(c, s.counters[c].count + weight);
        return s.counters[c].count;
    }
    // Unmonitored: it may have been seen up to `floor` times (0 while exact).
    if (s.counters.size() < s.capacity)
        return s.insert(member, s.floor + weight, s.floor);
    if (did_evict)
        *did_evict = true;
    return s.replace_min(member, weight, evicted);
}

std::vector<SpaceSaving::Entry> SpaceSaving::top(std::size_t k) const {
    const Impl& s = *impl_;
    // Whole buckets from the largest count down until they hold k counters: the k best are
    // among them, and only this boundary bucket needs ordering by member. The dashboard asks
    // for a few dozen of up to 10,000 members, so this is usually far below O(m).
    std::vector<std::uint32_t> picked;
    for (std::uint32_t b = s.max_bucket; b != kNone && picked.size() < k; b = s.buckets[b].prev) {
        for (std::uint32_t c = s.buckets[b].first; c != kNone; c = s.counters[c].next) {
            picked.push_back(c);
        }
    }
    k = std::min(k, picked.size());
    const auto mid = picked.begin() + static_cast<std::ptrdiff_t>(k);
    std::partial_sort(picked.begin(), mid, picked.end(), [&s](std::uint32_t a, std::uint32_t b) {
        return ranks_before(s.counters[a].count, *s.counters[a].member, s.counters[b].count,
                            *s.counters[b].member);
    });
    std::vector<Entry> out;
    out.reserve(k);
    for (auto it = picked.begin(); it != mid; ++it)
        out.push_back(s.entry(*it));
    return out;
}

std::vector<SpaceSaving::Entry> SpaceSaving::entries() const {
    const Impl& s = *impl_;
    std::vector<Entry> out;
    out.reserve(s.counters.size());
    for (std::uint32_t c = 0; c < s.counters.size(); ++c)
        out.push_back(s.entry(c));
    return out;
}

void SpaceSaving::for_each(
    const std::function<void(std::string_view, std::uint64_t, std::uint64_t)>& fn) const {
    for (const Impl::Counter& c : impl_->counters)
        fn(*c.member, c.count, c.error);
}

void SpaceSaving::for_each_in_eviction_order(
    const std::function<void(std::string_view, std::uint64_t, std::uint64_t)>& fn) const {
    const Impl& s = *impl_;
    for (std::uint32_t b = s.min_bucket; b != kNone; b = s.buckets[b].next) {
        for (std::uint32_t c = s.buckets[b].first; c != kNone; c = s.counters[c].next)
            fn(*s.counters[c].member, s.counters[c].count, s.counters[c].error);
    }
}

std::optional<SpaceSaving> SpaceSaving::restore(std::size_t capacity, std::uint64_t total,
                                                std::uint64_t floor, std::vector<Entry> entries) {
    if (capacity == 0 || capacity >= kNone || entries.size() > capacity)
        return std::nullopt;
    std::uint64_t sum = 0;
    std::uint64_t previous = 0;
    for (const Entry& e : entries) {
        // Ascending counts (the bucket list's order), each a possible Space-Saving counter.
        if (e.count == 0 || e.count < previous || e.error > e.count || e.error > floor)
            return std::nullopt;
        previous = e.count;
        if (e.count > total - sum)  // I4: the counts never exceed the stream
            return std::nullopt;
        sum += e.count;
    }
    if (!entries.empty() && floor > entries.front().count)  // I2: floor <= min
        return std::nullopt;

    SpaceSaving out(capacity);
    Impl& s = *out.impl_;
    s.total = total;
    s.floor = floor;
    s.index.reserve(entries.size());
    s.grow(entries.size());
    for (Entry& e : entries) {
        const auto c = static_cast<std::uint32_t>(s.counters.size());
        auto [it, inserted] = s.index.emplace(std::move(e.member), c);
        if (!inserted)
            return std::nullopt;
        s.counters.push_back(Impl::Counter{&it->first, e.count, e.error, kNone, kNone, kNone});
        // Ascending input: the right bucket is the last one or a new one after it, and
        // appending keeps each count's eviction order.
        const std::uint32_t last = s.max_bucket;
        const std::uint32_t bucket = last != kNone && s.buckets[last].count == e.count
                                         ? last
                                         : s.new_bucket_after(last, e.count);
        s.link(c, bucket);
    }
    return out;
}

std::uint64_t SpaceSaving::count_of(std::string_view member) const {
    const Impl::Counter* c = impl_->find(member);
    return c ? c->count : 0;
}

void SpaceSaving::merge(const SpaceSaving& other) {
    if (this == &other) {
        // Merging with oneself doubles every count (and error, and floor).
        const SpaceSaving copy(*this);
        merge(copy);
        return;
    }
    const Impl& a = *impl_;
    const Impl& b = *other.impl_;

    // The combined candidates, as views into a's and b's strings, which stay alive until
    // the new state is built. A side that does not monitor a member contributes its floor
    // to both count and error (see the header essay).
    struct Candidate {
        std::string_view member;
        std::uint64_t count;
        std::uint64_t error;
    };
    auto ranking = [](const Candidate& x, const Candidate& y) {
        return ranks_before(x.count, x.member, y.count, y.member);
    };
    std::vector<Candidate> candidates;
    candidates.reserve(a.counters.size() + b.counters.size());
    for (const Impl::Counter& ca : a.counters) {
        const Impl::Counter* cb = b.find(*ca.member);
        candidates.push_back(Candidate{*ca.member, ca.count + (cb ? cb->count : b.floor),
                                       ca.error + (cb ? cb->error : b.floor)});
    }
    for (const Impl::Counter& cb : b.counters) {
        if (a.find(*cb.member))
            continue;
        candidates.push_back(Candidate{*cb.member, cb.count + a.floor, cb.error + a.floor});
    }

    std::uint64_t floor = a.floor + b.floor;
    if (candidates.size() > a.capacity) {
        // Keep the `capacity` best in top()'s ranking. nth_element leaves at that position
        // the best of the dropped, i.e. the largest dropped count, which bounds the true
        // frequency of every dropped member.
        const auto cut = candidates.begin() + static_cast<std::ptrdiff_t>(a.capacity);
        std::nth_element(candidates.begin(), cut, candidates.end(), ranking);
        floor = std::max(floor, cut->count);
        candidates.erase(cut, candidates.end());
    }
    // Built from the last-ranked up, so within a count the member that ranks last is the
    // oldest, first to be evicted: the monitored set stays a prefix of the ranking.
    std::sort(candidates.begin(), candidates.end(),
              [&ranking](const Candidate& x, const Candidate& y) { return ranking(y, x); });

    auto merged = std::make_unique<Impl>(a.capacity);
    merged->total = a.total + b.total;
    merged->floor = floor;
    merged->index.reserve(candidates.size());
    merged->grow(candidates.size());
    for (const Candidate& cand : candidates) {
        const auto c = static_cast<std::uint32_t>(merged->counters.size());
        auto [it, inserted] = merged->index.emplace(std::string(cand.member), c);
        assert(inserted);
        merged->counters.push_back(
            Impl::Counter{&it->first, cand.count, cand.error, kNone, kNone, kNone});
        // Ascending order: the right bucket is the last one, or a new one after it.
        const std::uint32_t last = merged->max_bucket;
        const std::uint32_t bucket = last != kNone && merged->buckets[last].count == cand.count
                                         ? last
                                         : merged->new_bucket_after(last, cand.count);
        merged->link(c, bucket);
    }
    impl_ = std::move(merged);
}

std::uint64_t SpaceSaving::total() const {
    return impl_->total;
}
std::size_t SpaceSaving::size() const {
    return impl_->counters.size();
}
std::size_t SpaceSaving::capacity() const {
    return impl_->capacity;
}
bool SpaceSaving::exact() const {
    return impl_->floor == 0;
}
std::uint64_t SpaceSaving::error_bound() const {
    return impl_->floor;
}

}  // namespace tally::sketch
