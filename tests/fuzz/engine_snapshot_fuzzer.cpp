// Fuzzes the metrics engine's snapshot decoder (what recovery reads from a possibly
// damaged file): every input loads or is refused; a loaded engine encodes again and that
// encoding loads into an engine that encodes to the same bytes. Never a crash, never an
// allocation the input cannot justify.
//
// The checksum at the end would refuse nearly every mutated input before the decoder
// looks at it, so the fuzzer's bytes get a valid checksum appended first: what is
// exercised is the decoder behind it.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tally/durability/crc32c.hpp"
#include "tally/metrics/engine_snapshot.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace tally;
    std::string bytes = "TALLYMET";
    bytes.append(reinterpret_cast<const char*>(data), size);
    const std::uint32_t crc = durability::crc32c(bytes);
    for (int i = 0; i < 4; ++i)
        bytes.push_back(static_cast<char>(crc >> (8 * i)));
    const metrics::EngineOptions options{2, {1000, 1000}, 30};
    metrics::Engine engine(options);
    std::string error;
    if (!metrics::decode_engine(bytes, engine, error))
        return 0;
    const std::string again = metrics::encode_engine(engine, 0);
    metrics::Engine reloaded(options);
    if (!metrics::decode_engine(again, reloaded, error))
        std::abort();
    if (metrics::encode_engine(reloaded, 0) != again)
        std::abort();
    return 0;
}
