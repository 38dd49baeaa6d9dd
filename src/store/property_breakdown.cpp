#include "tally/store/property_breakdown.hpp"

#include <optional>
#include <utility>
#include <vector>

namespace tally::store {

namespace {

void append_utf8(std::string& out, std::uint32_t code) {
    if (code < 0x80) {
        out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (code >> 6)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (code >> 12)));
        out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (code >> 18)));
        out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
}

std::optional<std::uint32_t> hex4(std::string_view text, std::size_t at) {
    if (at + 4 > text.size())
        return std::nullopt;
    std::uint32_t code = 0;
    for (std::size_t i = at; i < at + 4; ++i) {
        const char c = text[i];
        const int digit = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
        if (digit < 0)
            return std::nullopt;
        code = code << 4 | static_cast<std::uint32_t>(digit);
    }
    return code;
}

/// The text of a JSON string's body (between the quotes) with its escapes resolved; a
/// lone surrogate becomes U+FFFD. False on a malformed escape.
bool unescape(std::string_view body, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < body.size(); ++i) {
        if (body[i] != '\\') {
            out.push_back(body[i]);
            continue;
        }
        if (++i == body.size())
            return false;
        switch (body[i]) {
            case '"':
                out.push_back('"');
                break;
            case '\\':
                out.push_back('\\');
                break;
            case '/':
                out.push_back('/');
                break;
            case 'b':
                out.push_back('\b');
                break;
            case 'f':
                out.push_back('\f');
                break;
            case 'n':
                out.push_back('\n');
                break;
            case 'r':
                out.push_back('\r');
                break;
            case 't':
                out.push_back('\t');
                break;
            case 'u': {
                auto code = hex4(body, i + 1);
                if (!code)
                    return false;
                i += 4;
                if (*code >= 0xD800 && *code < 0xDC00 && body.substr(i + 1, 2) == "\\u") {
                    auto low = hex4(body, i + 3);
                    if (low && *low >= 0xDC00 && *low < 0xE000) {
                        *code = 0x10000 + ((*code - 0xD800) << 10) + (*low - 0xDC00);
                        i += 6;
                    }
                }
                append_utf8(out, *code >= 0xD800 && *code < 0xE000 ? 0xFFFD : *code);
                break;
            }
            default:
                return false;
        }
    }
    return true;
}

/// Reads the members of one JSON object, as ingest writes it, one token at a time.
class ObjectScanner {
  public:
    explicit ObjectScanner(std::string_view text) : text_(text) {}

    bool open() {
        skip_space();
        return take('{');
    }
    /// The next member's key (unescaped into `key`) and value text; false at the end or
    /// on malformed text (then ok() is false).
    bool next(std::string& key, std::string_view& value_token) {
        skip_space();
        if (peek() == '}') {
            ++pos_;
            closed_ = true;
            return false;
        }
        if (members_++ > 0 && !take(','))
            return fail();
        skip_space();
        const std::size_t key_start = pos_;
        if (!skip_string() || !unescape(text_.substr(key_start + 1, pos_ - key_start - 2), key))
            return fail();
        skip_space();
        if (!take(':'))
            return fail();
        skip_space();
        const std::size_t value_start = pos_;
        if (!skip_value())
            return fail();
        value_token = text_.substr(value_start, pos_ - value_start);
        return true;
    }
    bool ok() const { return ok_ && closed_; }

  private:
    char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
    bool take(char c) {
        if (peek() != c)
            return false;
        ++pos_;
        return true;
    }
    bool fail() {
        ok_ = false;
        return false;
    }
    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                       text_[pos_] == '\r' || text_[pos_] == '\t')) {
            ++pos_;
        }
    }
    bool skip_string() {
        if (!take('"'))
            return false;
        while (pos_ < text_.size()) {
            const char c = text_[pos_++];
            if (c == '\\')
                ++pos_;
            else if (c == '"')
                return pos_ <= text_.size();
        }
        return false;
    }
    /// A string, a nested object or array (brackets balanced, strings skipped), or a
    /// scalar up to the next ',' or '}'.
    bool skip_value() {
        if (peek() == '"')
            return skip_string();
        int depth = 0;
        while (pos_ < text_.size()) {
            const char c = text_[pos_];
            if (c == '"') {
                if (!skip_string())
                    return false;
                continue;
            }
            if (c == '{' || c == '[') {
                ++depth;
            } else if (c == '}' || c == ']') {
                if (depth == 0)
                    break;
                --depth;
            } else if (c == ',' && depth == 0) {
                break;
            }
            ++pos_;
        }
        return depth == 0 && pos_ < text_.size();
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    std::size_t members_ = 0;
    bool ok_ = true;
    bool closed_ = false;
};

/// A value token's breakdown text: a string's unescaped text, else the token itself.
bool value_text(std::string_view token, std::string& scratch, std::string_view& text) {
    if (token.empty() || token.front() != '"') {
        text = token;
        return !token.empty();
    }
    if (token.size() < 2 || token.back() != '"')
        return false;
    const std::string_view body = token.substr(1, token.size() - 2);
    if (body.find('\\') == std::string_view::npos) {
        text = body;
        return true;
    }
    if (!unescape(body, scratch))
        return false;
    text = scratch;
    return true;
}

}  // namespace

bool for_each_property(std::string_view object,
                       const std::function<void(std::string_view, std::string_view)>& fn) {
    ObjectScanner scanner(object);
    if (!scanner.open())
        return false;
    std::string key;
    std::string scratch;
    std::string_view token;
    std::string_view value;
    while (scanner.next(key, token)) {
        if (!value_text(token, scratch, value))
            return false;
        fn(key, value);
    }
    return scanner.ok();
}

std::uint64_t PropertyKey::count() const {
    std::uint64_t total = other.count;
    for (const auto& [value, stats] : values)
        total += stats.count;
    return total;
}

void PropertyKey::add(std::string_view value, std::uint64_t visitor_hash) {
    auto it = values.find(value);
    if (it == values.end()) {
        if (values.size() >= PropertyBreakdown::kMaxValuesPerKey) {
            other.add(visitor_hash);
            return;
        }
        it = values.emplace(std::string(value), PropertyValue{}).first;
    }
    it->second.add(visitor_hash);
}

void PropertyKey::merge(const PropertyKey& from) {
    for (const auto& [value, stats] : from.values) {
        auto it = values.find(value);
        if (it == values.end()) {
            if (values.size() >= PropertyBreakdown::kMaxValuesPerKey) {
                other.merge(stats);
                continue;
            }
            it = values.emplace(value, PropertyValue{}).first;
        }
        it->second.merge(stats);
    }
    other.merge(from.other);
}

PropertyKey* PropertyBreakdown::admit_key(std::string_view key, std::size_t& site_keys) {
    auto it = keys_.find(key);
    if (it != keys_.end())
        return &it->second;
    if (key.size() > kMaxKeyBytes || keys_.size() >= kMaxKeysPerEvent ||
        site_keys >= kMaxKeysPerSite) {
        return nullptr;
    }
    ++site_keys;
    return &keys_.emplace(std::string(key), PropertyKey{}).first->second;
}

bool PropertyBreakdown::record(std::string_view properties, std::uint64_t visitor_hash,
                               std::size_t& site_keys) {
    // One scan into a reused list, counted only once the whole text has read well: a damaged
    // record changes nothing.
    thread_local std::vector<std::pair<std::string, std::string>> members;
    std::size_t n = 0;
    const bool read =
        for_each_property(properties, [&](std::string_view key, std::string_view value) {
            if (n == members.size())
                members.emplace_back();
            members[n].first.assign(key);
            members[n].second.assign(value);
            ++n;
        });
    if (!read)
        return false;
    for (std::size_t i = 0; i < n; ++i) {
        const auto& [key, value] = members[i];
        PropertyKey* slot = value.size() <= kMaxValueBytes ? admit_key(key, site_keys) : nullptr;
        if (slot == nullptr) {
            ++keys_refused_;
            continue;
        }
        slot->add(value, visitor_hash);
    }
    return true;
}

void PropertyBreakdown::merge(const PropertyBreakdown& other, std::size_t& site_keys) {
    for (const auto& [key, from] : other.keys_) {
        PropertyKey* slot = admit_key(key, site_keys);
        if (slot == nullptr) {
            keys_refused_ += from.count();
            continue;
        }
        slot->merge(from);
    }
    keys_refused_ += other.keys_refused_;
}

std::size_t PropertyBreakdown::memory_bytes() const {
    std::size_t bytes = sizeof(*this);
    for (const auto& [key, slot] : keys_) {
        bytes += sizeof(slot) + key.capacity() + slot.other.visitors.memory_bytes();
        for (const auto& [value, stats] : slot.values)
            bytes += 32 + value.capacity() + sizeof(stats) + stats.visitors.memory_bytes();
    }
    return bytes;
}

bool PropertyBreakdown::consistent() const {
    if (keys_.size() > kMaxKeysPerEvent)
        return false;
    for (const auto& [key, slot] : keys_) {
        if (slot.values.size() > kMaxValuesPerKey)
            return false;
        for (const auto& [value, stats] : slot.values) {
            if (stats.count == 0)
                return false;
        }
    }
    return true;
}

}  // namespace tally::store
