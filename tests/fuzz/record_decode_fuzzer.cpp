// Fuzzes the event log's record decoder (what recovery reads from a possibly damaged
// file): every input decodes, asks for more, or is refused as corrupt; a decoded record
// re-encodes to the same bytes. Never a crash, never a read past the input.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tally/durability/record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace tally::durability;
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    tally::Event event;
    LoggedRecord record;  // events and metric points
    while (!bytes.empty()) {
        const DecodeResult result = decode_record(bytes, record);
        if (result.status != DecodeStatus::ok)
            break;
        if (result.consumed == 0 || result.consumed > bytes.size())
            std::abort();
        std::string again;
        if (record.is_point)
            append_record(record.point, again);
        else
            append_record(record.event, again);
        if (std::string_view(again) != bytes.substr(0, result.consumed))
            std::abort();
        bytes.remove_prefix(result.consumed);
    }
    // The payload decoder alone, on the raw input.
    (void)decode_payload(std::string_view(reinterpret_cast<const char*>(data), size), event);
    (void)decode_payload(std::string_view(reinterpret_cast<const char*>(data), size), record.point);
    return 0;
}
