#pragma once
// CRC-32C (Castagnoli, polynomial 0x1EDC6F41 reflected 0x82F63B78), the checksum of the
// event log's records: SSE4.2's crc32 instruction when the CPU has it, a table otherwise.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tally::durability {

std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0);

}  // namespace tally::durability
