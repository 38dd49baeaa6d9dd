#include "tally/base/names.hpp"

namespace tally {

namespace {

bool is_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

template <typename Allowed>
bool all_of_1_to_64(std::string_view text, Allowed allowed) {
    if (text.empty() || text.size() > 64)
        return false;
    for (char c : text) {
        if (!allowed(c))
            return false;
    }
    return true;
}

}  // namespace

bool valid_site(std::string_view site) {
    return all_of_1_to_64(site,
                          [](char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

bool valid_event_name(std::string_view name) {
    return all_of_1_to_64(
        name, [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == ':' || c == '-'; });
}

bool valid_utf8(std::string_view text) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = p + text.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        // The lead byte gives the length and the first bits; the range it allows rules out
        // overlong forms, surrogates and code points past U+10FFFF below.
        std::size_t length = 0;
        char32_t code = 0;
        if (c >= 0xC2 && c <= 0xDF) {
            length = 2;
            code = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            length = 3;
            code = c & 0x0Fu;
        } else if (c >= 0xF0 && c <= 0xF4) {
            length = 4;
            code = c & 0x07u;
        } else {
            return false;  // a continuation byte first, 0xC0/0xC1, or past 0xF4
        }
        if (static_cast<std::size_t>(end - p) < length)
            return false;
        for (std::size_t i = 1; i < length; ++i) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            code = (code << 6) | (p[i] & 0x3Fu);
        }
        constexpr char32_t kLeast[] = {0, 0, 0x80, 0x800, 0x10000};
        if (code < kLeast[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
            return false;
        p += length;
    }
    return true;
}

}  // namespace tally
