// Fuzzes HyperLogLog::from_redis_bytes (what a GET from Redis hands the mirror): any bytes
// either parse to a HyperLogLog whose dense form parses back to the same registers, or
// are refused. Never a crash.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tally/sketch/hyperloglog.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using tally::sketch::HyperLogLog;
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    auto hll = HyperLogLog::from_redis_bytes(bytes);
    if (!hll)
        return 0;
    (void)hll->count();
    auto again = HyperLogLog::from_redis_bytes(hll->dense_bytes());
    if (!again || !(*again == *hll))
        std::abort();
    return 0;
}
