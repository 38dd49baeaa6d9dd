#include "tally/durability/record.hpp"

#include <cstring>

#include "tally/durability/crc32c.hpp"

namespace tally::durability {

namespace {

void put_u32(std::string& out, std::uint32_t v) {
    char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16),
                 static_cast<char>(v >> 24)};
    out.append(b, 4);
}

std::uint32_t get_u32(const char* p) {
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    return std::uint32_t{u[0]} | std::uint32_t{u[1]} << 8 | std::uint32_t{u[2]} << 16 |
           std::uint32_t{u[3]} << 24;
}

void put_varint(std::string& out, std::uint32_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7F) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

void put_string(std::string& out, const std::string& s) {
    put_varint(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}

/// Reads payloads; every read checks bounds and a failed read sticks.
class Reader {
  public:
    explicit Reader(std::string_view bytes) : bytes_(bytes) {}
    bool ok() const { return ok_; }
    bool done() const { return pos_ == bytes_.size(); }

    std::uint8_t u8() {
        if (!ok_ || pos_ + 1 > bytes_.size())
            return fail();
        return static_cast<std::uint8_t>(bytes_[pos_++]);
    }
    std::int64_t i64() {
        if (!ok_ || pos_ + 8 > bytes_.size())
            return fail();
        std::uint64_t v = 0;
        for (int i = 7; i >= 0; --i) {
            v = (v << 8) | static_cast<unsigned char>(bytes_[pos_ + static_cast<std::size_t>(i)]);
        }
        pos_ += 8;
        return static_cast<std::int64_t>(v);
    }
    void string(std::string& out) {
        std::uint32_t length = 0;
        for (int shift = 0;; shift += 7) {
            if (shift > 28) {
                fail();
                return;
            }
            const std::uint8_t byte = u8();
            if (!ok_)
                return;
            // Only the shortest encoding is valid, so a record has exactly one byte form.
            if ((shift > 0 && byte == 0) || (shift == 28 && (byte & 0x70u) != 0)) {
                fail();
                return;
            }
            length |= std::uint32_t{byte & 0x7Fu} << shift;
            if ((byte & 0x80u) == 0)
                break;
        }
        if (length > bytes_.size() - pos_) {
            fail();
            return;
        }
        out.assign(bytes_.data() + pos_, length);
        pos_ += length;
    }

  private:
    std::uint8_t fail() {
        ok_ = false;
        return 0;
    }
    std::string_view bytes_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

}  // namespace

void append_record(const Event& event, std::string& out) {
    const std::size_t frame = out.size();
    out.append(kRecordHeaderSize, '\0');
    out.push_back(static_cast<char>(kRecordVersion));
    out.push_back(static_cast<char>(event.kind));
    out.push_back(static_cast<char>(event.device));
    const auto ts = static_cast<std::uint64_t>(event.timestamp_ms);
    for (int i = 0; i < 8; ++i)
        out.push_back(static_cast<char>(ts >> (8 * i)));
    for (const std::string* s :
         {&event.site, &event.page, &event.referrer, &event.country, &event.event_name,
          &event.session_id, &event.user_id, &event.visitor_id, &event.properties}) {
        put_string(out, *s);
    }
    const std::size_t payload_size = out.size() - frame - kRecordHeaderSize;
    const std::string_view payload(out.data() + frame + kRecordHeaderSize, payload_size);
    std::string header;
    put_u32(header, static_cast<std::uint32_t>(payload_size));
    put_u32(header, crc32c(payload));
    std::memcpy(out.data() + frame, header.data(), kRecordHeaderSize);
}

bool decode_payload(std::string_view payload, Event& event) {
    Reader in(payload);
    if (in.u8() != kRecordVersion)
        return false;
    const std::uint8_t kind = in.u8();
    const std::uint8_t device = in.u8();
    if (kind > static_cast<std::uint8_t>(EventKind::custom) || device >= kDeviceCount) {
        return false;
    }
    event.kind = static_cast<EventKind>(kind);
    event.device = static_cast<Device>(device);
    event.timestamp_ms = in.i64();
    for (std::string* s :
         {&event.site, &event.page, &event.referrer, &event.country, &event.event_name,
          &event.session_id, &event.user_id, &event.visitor_id, &event.properties}) {
        in.string(*s);
    }
    return in.ok() && in.done();
}

DecodeResult decode_record(std::string_view bytes, Event& event) {
    if (bytes.size() < kRecordHeaderSize)
        return {DecodeStatus::need_more, 0};
    const std::uint32_t length = get_u32(bytes.data());
    const std::uint32_t checksum = get_u32(bytes.data() + 4);
    if (length > kMaxPayload)
        return {DecodeStatus::corrupt, 0};
    if (bytes.size() - kRecordHeaderSize < length)
        return {DecodeStatus::need_more, 0};
    const std::string_view payload = bytes.substr(kRecordHeaderSize, length);
    if (crc32c(payload) != checksum || !decode_payload(payload, event)) {
        return {DecodeStatus::corrupt, 0};
    }
    return {DecodeStatus::ok, kRecordHeaderSize + length};
}

}  // namespace tally::durability
