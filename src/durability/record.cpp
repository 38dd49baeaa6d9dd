#include "tally/durability/record.hpp"

#include <cstring>

#include "tally/durability/crc32c.hpp"

namespace tally::durability {

namespace {

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
    double f64() {
        const auto bits = static_cast<std::uint64_t>(i64());
        double value = 0;
        std::memcpy(&value, &bits, sizeof value);
        return value;
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

/// Fills in the frame (length and checksum) of the payload that starts after `frame`.
void close_frame(std::string& out, std::size_t frame) {
    const std::size_t payload_size = out.size() - frame - kRecordHeaderSize;
    const std::string_view payload(out.data() + frame + kRecordHeaderSize, payload_size);
    const auto length = static_cast<std::uint32_t>(payload_size);
    const std::uint32_t checksum = crc32c(payload);
    for (int i = 0; i < 4; ++i) {
        out[frame + static_cast<std::size_t>(i)] = static_cast<char>(length >> (8 * i));
        out[frame + 4 + static_cast<std::size_t>(i)] = static_cast<char>(checksum >> (8 * i));
    }
}

std::size_t varint_size(std::uint32_t v) {
    std::size_t size = 1;
    for (; v >= 0x80; v >>= 7)
        ++size;
    return size;
}

std::size_t string_size(const std::string& s) {
    return varint_size(static_cast<std::uint32_t>(s.size())) + s.size();
}

/// Writes into room already made in the output, so that a record costs one resize rather
/// than a capacity check per byte (points are logged one by one at ingest rate). The bytes
/// are those of put_varint and put_string, numbers little-endian.
class PayloadWriter {
  public:
    explicit PayloadWriter(char* at) : at_(at) {}
    void u8(std::uint8_t v) { *at_++ = static_cast<char>(v); }
    void u64(std::uint64_t v) {
        for (int i = 0; i < 8; ++i)
            *at_++ = static_cast<char>(v >> (8 * i));
    }
    void f64(double value) {
        std::uint64_t bits = 0;
        std::memcpy(&bits, &value, sizeof bits);
        u64(bits);
    }
    void varint(std::uint32_t v) {
        for (; v >= 0x80; v >>= 7)
            *at_++ = static_cast<char>((v & 0x7F) | 0x80);
        *at_++ = static_cast<char>(v);
    }
    void string(const std::string& s) {
        varint(static_cast<std::uint32_t>(s.size()));
        std::memcpy(at_, s.data(), s.size());
        at_ += s.size();
    }

  private:
    char* at_;
};

std::size_t metric_payload_size(const MetricPoint& point) {
    std::size_t size = 4 + 3 * 8 + string_size(point.workspace) + string_size(point.name) +
                       string_size(point.member) +
                       varint_size(static_cast<std::uint32_t>(point.tags.size()));
    for (const MetricTag& tag : point.tags)
        size += string_size(tag.key) + string_size(tag.value);
    return size;
}

}  // namespace

void append_record(const MetricPoint& point, std::string& out) {
    const std::size_t frame = out.size();
    out.resize(frame + kRecordHeaderSize + metric_payload_size(point));
    PayloadWriter payload(out.data() + frame + kRecordHeaderSize);
    payload.u8(kMetricRecordVersion);
    payload.u8(static_cast<std::uint8_t>(point.type));
    payload.u8(static_cast<std::uint8_t>(point.window));
    payload.u8(point.gauge_delta ? 1 : 0);
    payload.u64(static_cast<std::uint64_t>(point.timestamp_ms));
    payload.f64(point.value);
    payload.f64(point.weight);
    payload.string(point.workspace);
    payload.string(point.name);
    payload.string(point.member);
    payload.varint(static_cast<std::uint32_t>(point.tags.size()));
    for (const MetricTag& tag : point.tags) {
        payload.string(tag.key);
        payload.string(tag.value);
    }
    close_frame(out, frame);
}

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
    close_frame(out, frame);
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

bool decode_payload(std::string_view payload, MetricPoint& point) {
    Reader in(payload);
    if (in.u8() != kMetricRecordVersion)
        return false;
    const std::uint8_t type = in.u8();
    const std::uint8_t window = in.u8();
    const std::uint8_t flags = in.u8();
    if (type >= kMetricTypeCount || window > static_cast<std::uint8_t>(MetricWindow::d1) ||
        flags > 1) {
        return false;
    }
    point.type = static_cast<MetricType>(type);
    point.window = static_cast<MetricWindow>(window);
    point.gauge_delta = flags == 1;
    point.timestamp_ms = in.i64();
    point.value = in.f64();
    point.weight = in.f64();
    in.string(point.workspace);
    in.string(point.name);
    in.string(point.member);
    const std::uint8_t tags = in.u8();  // one byte: at most 16 is a single-byte varint
    if (!in.ok() || tags > kMaxMetricTags)
        return false;
    point.tags.resize(tags);
    for (MetricTag& tag : point.tags) {
        in.string(tag.key);
        in.string(tag.value);
    }
    return in.ok() && in.done();
}

namespace {

/// Appends `count` records, a batch when more than one (see record.hpp).
template <typename Item>
void append_batched(const Item* items, std::size_t count, std::string& out) {
    if (count == 1) {
        append_record(items[0], out);
        return;
    }
    std::size_t frame = 0;
    std::size_t in_frame = 0;  // records in the batch at `frame`
    for (std::size_t i = 0; i < count; ++i) {
        if (in_frame > 0 && out.size() - frame > kBatchSplitBytes) {
            close_frame(out, frame);
            in_frame = 0;
        }
        if (in_frame == 0) {
            frame = out.size();
            out.append(kRecordHeaderSize, '\0');
            out.push_back(static_cast<char>(kBatchVersion));
        }
        append_record(items[i], out);
        ++in_frame;
    }
    if (in_frame > 0)
        close_frame(out, frame);
}

/// The frame at the start of `bytes`: its payload and size, or why there is none.
DecodeStatus read_frame(std::string_view bytes, std::string_view& payload, std::size_t& size) {
    if (bytes.size() < kRecordHeaderSize)
        return DecodeStatus::need_more;
    const std::uint32_t length = get_u32(bytes.data());
    const std::uint32_t checksum = get_u32(bytes.data() + 4);
    if (length > kMaxPayload)
        return DecodeStatus::corrupt;
    if (bytes.size() - kRecordHeaderSize < length)
        return DecodeStatus::need_more;
    payload = bytes.substr(kRecordHeaderSize, length);
    if (crc32c(payload) != checksum)
        return DecodeStatus::corrupt;
    size = kRecordHeaderSize + length;
    return DecodeStatus::ok;
}

/// One record's payload (not a batch) into `record`.
bool decode_single(std::string_view payload, LoggedRecord& record) {
    record.is_point = !payload.empty() && payload[0] == static_cast<char>(kMetricRecordVersion);
    return record.is_point ? decode_payload(payload, record.point)
                           : decode_payload(payload, record.event);
}

}  // namespace

void append_records(const Event* events, std::size_t count, std::string& out) {
    append_batched(events, count, out);
}

void append_records(const MetricPoint* points, std::size_t count, std::string& out) {
    append_batched(points, count, out);
}

DecodeStatus RecordCursor::read_batch(std::string_view payload) {
    payload.remove_prefix(1);  // the version
    std::size_t records = 0;
    while (!payload.empty()) {
        std::string_view inner;
        std::size_t size = 0;
        // A batch's checksum held, so a bad record inside it was written so: corrupt.
        if (read_frame(payload, inner, size) != DecodeStatus::ok)
            return DecodeStatus::corrupt;
        if (records == batch_.size())
            batch_.emplace_back();
        if (!inner.empty() && inner[0] == static_cast<char>(kBatchVersion))
            return DecodeStatus::corrupt;
        if (!decode_single(inner, batch_[records]))
            return DecodeStatus::corrupt;
        ++records;
        payload.remove_prefix(size);
    }
    if (records < 2)
        return DecodeStatus::corrupt;  // never written: one record is framed alone
    batch_size_ = records;
    return DecodeStatus::ok;
}

DecodeStatus RecordCursor::next(LoggedRecord& record) {
    if (pending_ < batch_size_) {
        // Swapped rather than copied: the record's old strings become the buffer's spares.
        std::swap(record, batch_[pending_++]);
        return DecodeStatus::ok;
    }
    std::string_view payload;
    std::size_t size = 0;
    const DecodeStatus status = read_frame(bytes_.substr(end_), payload, size);
    if (status != DecodeStatus::ok)
        return status;
    if (!payload.empty() && payload[0] == static_cast<char>(kBatchVersion)) {
        batch_size_ = pending_ = 0;
        if (read_batch(payload) != DecodeStatus::ok) {
            batch_size_ = 0;
            return DecodeStatus::corrupt;
        }
        std::swap(record, batch_[pending_++]);
    } else if (!decode_single(payload, record)) {
        return DecodeStatus::corrupt;
    }
    frame_ = end_;
    end_ += size;
    return DecodeStatus::ok;
}

}  // namespace tally::durability
