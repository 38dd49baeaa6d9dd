// Fuzzes the event log's record decoder (what recovery reads from a possibly damaged
// file): every input decodes, asks for more, or is refused as corrupt; the records of a
// decoded frame (one record, or a batch) re-encode to the same bytes. Never a crash, never
// a read past the input.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tally/durability/record.hpp"

namespace {

using namespace tally::durability;

/// The bytes append_records writes for `records`. False for a batch mixing events and
/// points: the daemon never appends one, but the decoder takes it, so it has no re-encoding.
bool encode(const std::vector<LoggedRecord>& records, std::string& out) {
    std::vector<tally::Event> events;
    std::vector<tally::MetricPoint> points;
    for (const LoggedRecord& record : records) {
        if (record.is_point)
            points.push_back(record.point);
        else
            events.push_back(record.event);
    }
    if (!events.empty() && !points.empty())
        return false;
    if (!events.empty())
        append_records(events.data(), events.size(), out);
    else
        append_records(points.data(), points.size(), out);
    return true;
}

void check_frame(std::string_view bytes, std::size_t begin, std::size_t end,
                 const std::vector<LoggedRecord>& records) {
    if (records.empty())
        return;
    if (begin >= end || end > bytes.size())
        std::abort();
    std::string again;
    if (encode(records, again) && std::string_view(again) != bytes.substr(begin, end - begin))
        std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    RecordCursor cursor(bytes);
    std::vector<LoggedRecord> frame;  // the records of the frame being read
    std::size_t frame_begin = 0;
    std::size_t frame_end = 0;
    for (std::size_t steps = 0; !cursor.done() && steps <= size; ++steps) {
        LoggedRecord record;
        if (cursor.next(record) != DecodeStatus::ok)
            break;
        if (cursor.frame_offset() != frame_begin || frame.empty()) {
            check_frame(bytes, frame_begin, frame_end, frame);
            frame.clear();
            frame_begin = cursor.frame_offset();
        }
        frame_end = cursor.end();
        frame.push_back(std::move(record));
    }
    check_frame(bytes, frame_begin, frame_end, frame);
    // The payload decoder alone, on the raw input.
    tally::Event event;
    tally::MetricPoint point;
    (void)decode_payload(bytes, event);
    (void)decode_payload(bytes, point);
    return 0;
}
