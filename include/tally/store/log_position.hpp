#pragma once
// A place in one event-log writer's files: (segment number, byte offset in it). Positions
// of one writer are ordered (segment first), and "the state includes every record of that
// writer before this position, and none at or after it" is what a shard records when it
// applies a batch and what a snapshot saves. Defined here, below the event log, because
// the store records it and the store never depends on durability.

#include <cstdint>

namespace tally::store {

struct LogPosition {
    std::uint64_t segment = 0;
    std::uint64_t offset = 0;
    bool operator==(const LogPosition&) const = default;
    bool operator<(const LogPosition& other) const {
        return segment != other.segment ? segment < other.segment : offset < other.offset;
    }
};

}  // namespace tally::store
