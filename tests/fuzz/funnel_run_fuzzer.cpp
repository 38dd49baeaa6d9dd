// Fuzzes the funnel run's body parser (what a restart reads back from disk after the
// file's checksum, so what a bug in the writer or a checksum collision could hand it):
// every input is refused with a reason or parses into a run whose every step can be read.
// Never a crash, never a read past the input.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "tally/store/funnel_run.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto owner = std::make_shared<std::string>(reinterpret_cast<const char*>(data), size);
    std::string why;
    const auto run = tally::store::FunnelRun::parse(owner, *owner, "f.run", 0, why);
    if (run == nullptr) {
        if (why.empty())
            std::abort();
        return 0;
    }
    // Read every group the run could hold: a label is at most the input long.
    std::uint64_t steps = 0;
    for (const char* label : {"", "signup", "pageview:/", "a"}) {
        run->for_each_step(label, [&](std::uint32_t identity, std::int64_t) {
            if (identity >= run->identities() || run->identity_name(identity).size() > size)
                std::abort();
            ++steps;
        });
    }
    if (steps > run->steps())
        std::abort();
    return 0;
}
