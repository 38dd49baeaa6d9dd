#pragma once
// The Redis key layout, in one place: the mirror (mirror/mirror.hpp) writes these keys and
// the fleet reader (query/fleet_reader.hpp) reads them, so both build them here.
//
// Every key of a site carries the site inside literal braces, "tally:{S}:...": Redis
// Cluster hashes only the text between the first "{" and the next "}", so all of a site's
// keys - counters, HyperLogLogs, sorted sets, hashes, and the mirror's own checkpoint and
// scratch keys - live in one hash slot. That is what lets one MULTI/EXEC cover a whole
// site's flush on a cluster, and a site's reads stay on one node.
//
//   tally:{S}:count:pageviews:D          string   page views of the day D (YYYY-MM-DD)
//   tally:{S}:count:pageviews:D:HH       string   ... of the hour HH (00-23, UTC)
//   tally:{S}:count:pageviews:D:HH:MM    string   ... of the minute
//   tally:{S}:hll:visitors:D             string   a Redis HyperLogLog (PFCOUNT works)
//   tally:{S}:hll:sessions:D             string   a Redis HyperLogLog
//   tally:{S}:pages:D                    zset     page path -> views
//   tally:{S}:referrers:D                zset     referrer host ("direct") -> views
//   tally:{S}:countries:D                zset     ISO country code -> views
//   tally:{S}:devices:D                  hash     desktop|mobile|tablet -> views
//   tally:{S}:events:D                   hash     custom event name -> count
//   tally:{S}:realtime                   channel  one PUBLISH per flush of the site
//
// The names above are published (other programs read them). The mirror's own keys besides
// (same slot, same TTL):
//   tally:{S}:mirror:I:D                 hash     what instance I has shipped for day D
//                                                 (field -> value, mirror/day_image.hpp)
//   tally:{S}:mirror:I:scratch           string   a HyperLogLog on its way into PFMERGE,
//                                                 deleted in the same transaction
//   tally:{S}:active:I                   string   instance I's real-time users, expiring
//                                                 a few flushes after its last write
//   tally:{S}:instances                  set      the instances that mirror the site (so a
//                                                 reader finds their active:I keys without
//                                                 a SCAN of the keyspace)
// Sites match [A-Za-z0-9._-]{1,64} and instance ids are checked at start-up (no braces,
// colons or spaces), so no key can be confused with another's.

#include <cstdint>
#include <string>
#include <string_view>

namespace tally::redis {

/// The day keys of one site and date ("2026-11-22"), built once per flush of that day.
struct DayKeys {
    std::string pageviews, visitors, sessions, pages, referrers, countries, devices, events;

    DayKeys(std::string_view site, std::string_view date);
    /// "tally:{S}:count:pageviews:D:HH"
    std::string hour(int hour) const;
    /// "tally:{S}:count:pageviews:D:HH:MM"
    std::string minute(int minute_of_day) const;
};

/// "tally:{S}:" - every key of the site starts with it.
std::string site_prefix(std::string_view site);
std::string realtime_channel(std::string_view site);
std::string checkpoint_key(std::string_view site, std::string_view instance, std::string_view date);
std::string scratch_key(std::string_view site, std::string_view instance);
std::string active_key(std::string_view site, std::string_view instance);
std::string instances_key(std::string_view site);

/// True when `id` can name an instance inside keys: 1-64 of [A-Za-z0-9._-].
bool valid_instance_id(std::string_view id);

}  // namespace tally::redis
