#pragma once
// The names that travel through every module and into file names, Redis keys and JSON: a
// site and a custom event's name. Both are 1 to 64 ASCII characters from a short set, so
// they never need escaping in a key ("tally:{site}:...") or a path, and no two spellings
// of one name exist.

#include <string_view>

namespace tally {

/// [A-Za-z0-9._-]{1,64}
bool valid_site(std::string_view site);
/// [A-Za-z0-9_.:-]{1,64}
bool valid_event_name(std::string_view name);
/// Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF): what
/// may be echoed into a JSON answer.
bool valid_utf8(std::string_view text);

}  // namespace tally
