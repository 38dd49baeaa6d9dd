// Fuzzes snapshot loading (what recovery reads from a possibly damaged file): any bytes
// are refused or loaded, never a crash, a read past the input or an allocation driven by
// an unchecked length; a loaded store answers queries and snapshots again.
//
// A random input almost never passes the checksums, so each input is tried twice: as a
// file, and as a compact list of sections (u32 kind, u32 length, payload) that this
// fuzzer frames into a file with the right header, checksums and trailer, so that the
// payload decoders behind the checksums get fuzzed too. Seeds in corpus/ are both forms.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tally/durability/crc32c.hpp"
#include "tally/durability/snapshot.hpp"
#include "tally/query/query.hpp"

namespace {

void put(std::string& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
        out.push_back(static_cast<char>(v >> (8 * i)));
}

std::uint32_t get_u32(std::string_view in, std::size_t pos) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
        v = (v << 8) | static_cast<unsigned char>(in[pos + static_cast<std::size_t>(i)]);
    return v;
}

/// Frames the compact section list `in` as a snapshot file (see snapshot.hpp).
std::string frame(std::string_view in) {
    std::string out = "TALLYSNP";
    put(out, tally::durability::kSnapshotVersion, 4);
    put(out, 0, 4);
    std::uint64_t sections = 0;
    std::size_t pos = 0;
    while (in.size() - pos >= 8) {
        const std::uint32_t kind = get_u32(in, pos);
        const std::size_t room = in.size() - pos - 8;
        const std::size_t length = std::min<std::size_t>(get_u32(in, pos + 4), room);
        const std::string_view payload = in.substr(pos + 8, length);
        std::string head;
        put(head, kind, 4);
        put(head, length, 8);
        const std::uint32_t crc =
            tally::durability::crc32c(payload, tally::durability::crc32c(head));
        out += head;
        put(out, crc, 4);
        out += payload;
        pos += 8 + length;
        ++sections;
    }
    const std::uint32_t file_crc = tally::durability::crc32c(out);
    out += "TALLYEND";
    put(out, sections, 8);
    put(out, file_crc, 4);
    return out;
}

void try_load(std::string_view bytes) {
    using namespace tally;
    store::StoreOptions options;
    options.shards = 3;
    store::Store store(options);
    std::string error;
    const auto meta = durability::decode_snapshot(bytes, store, &error);
    if (!meta) {
        if (error.empty()) {
            std::fprintf(stderr, "refused without a reason\n");
            std::abort();
        }
        return;
    }
    // Whatever loaded must be usable: read it and snapshot it again.
    const std::int64_t now = meta->created_ms;
    for (const std::string& site : store.sites()) {
        query::DayRange range{0, 0, "x"};
        store.visit_site(site, [&](const store::SiteShard& part) {
            if (!part.days.empty()) {
                range.first = part.days.begin()->first;
                range.last = range.first;
            }
        });
        (void)query::to_json(query::build_dashboard(store, site, range, now));
        (void)query::top_list_rows(store, site, range, query::TopList::pages, 10,
                                   query::WithVisitors::yes);
        (void)query::funnel(store, site, range.first, {"a", "pageview:/"});
        (void)query::active_users(store, site, now);
        (void)query::recent_top_pages(store, site, now, 10);
    }
    (void)durability::encode_snapshot(store, *meta);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    try_load(bytes);
    if (!bytes.starts_with("TALLYSNP"))
        try_load(frame(bytes));
    return 0;
}
