#include "tally/store/funnel_run.hpp"

#include <bit>
#include <vector>

#include "tally/base/names.hpp"

namespace tally::store {

// Steps and offsets are read with memcpy straight from the mapping.
static_assert(std::endian::native == std::endian::little, "runs are little-endian");

namespace {

void put_u32(std::string& out, std::uint32_t v) {
    out.append(reinterpret_cast<const char*>(&v), 4);
}
void put_u64(std::string& out, std::uint64_t v) {
    out.append(reinterpret_cast<const char*>(&v), 8);
}
void put_str(std::string& out, std::string_view s) {
    put_u32(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}

/// Bounds-checked reads over a body; a failed read sticks.
class BodyReader {
  public:
    explicit BodyReader(std::string_view bytes) : bytes_(bytes) {}
    bool ok() const { return ok_; }
    std::size_t left() const { return bytes_.size() - pos_; }
    const char* here() const { return bytes_.data() + pos_; }
    std::string_view take(std::uint64_t n) {
        if (!ok_ || n > left()) {
            ok_ = false;
            return {};
        }
        const std::string_view out = bytes_.substr(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return out;
    }
    std::uint64_t u64() { return fixed<std::uint64_t>(); }
    std::uint32_t u32() { return fixed<std::uint32_t>(); }
    std::string_view str() { return take(u32()); }

  private:
    template <typename T>
    T fixed() {
        const std::string_view raw = take(sizeof(T));
        T v{};
        if (ok_)
            std::memcpy(&v, raw.data(), sizeof(T));
        return v;
    }
    std::string_view bytes_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

}  // namespace

void encode_funnel_run(std::string_view site, std::int64_t day, const FunnelLog::View& log,
                       std::size_t steps, const std::function<void(std::string_view)>& sink,
                       std::size_t chunk_bytes) {
    // Group sizes by label, then each step's place: a stable counting sort.
    std::vector<std::uint64_t> first(log.labels.size() + 1, 0);
    for (std::size_t i = 0; i < steps; ++i)
        ++first[log.steps[i].label + 1];
    for (std::size_t l = 1; l < first.size(); ++l)
        first[l] += first[l - 1];

    std::string head;
    put_str(head, site);
    put_u64(head, static_cast<std::uint64_t>(day));
    put_u64(head, steps);
    put_u32(head, static_cast<std::uint32_t>(log.labels.size()));
    for (std::size_t l = 0; l < log.labels.size(); ++l) {
        put_str(head, log.labels[l]);
        put_u64(head, first[l + 1] - first[l]);
    }
    const std::size_t identities = log.identities.size();
    put_u32(head, static_cast<std::uint32_t>(identities));
    std::uint64_t blob = 0;
    log.identities.for_each([&](const std::string& s) { blob += s.size(); });
    put_u64(head, blob);
    std::uint64_t offset = 0;
    put_u64(head, offset);
    log.identities.for_each([&](const std::string& s) {
        offset += s.size();
        put_u64(head, offset);
    });
    sink(head);
    log.identities.for_each([&](const std::string& s) { sink(s); });

    // The groups in chunks of labels of about chunk_bytes, one pass over the steps each,
    // so that moving a log never holds a second copy of it (a chunk is larger only when one
    // label's group is).
    std::string packed;
    for (std::size_t label = 0; label < log.labels.size();) {
        const std::uint64_t base = first[label];
        std::size_t end = label + 1;
        while (end < log.labels.size() &&
               (first[end + 1] - base) * FunnelRun::kStepBytes <= chunk_bytes) {
            ++end;
        }
        packed.assign((first[end] - base) * FunnelRun::kStepBytes, '\0');
        for (std::size_t i = 0; i < steps && !packed.empty(); ++i) {
            const FunnelStep& step = log.steps[i];
            if (step.label < label || step.label >= end)
                continue;
            char* at = packed.data() + (first[step.label]++ - base) * FunnelRun::kStepBytes;
            std::memcpy(at, &step.identity, 4);
            std::memcpy(at + 4, &step.timestamp_ms, 8);
        }
        sink(packed);
        label = end;
    }
}

std::shared_ptr<const FunnelRun> FunnelRun::parse(std::shared_ptr<const void> owner,
                                                  std::string_view body, std::string file,
                                                  std::uint32_t checksum, std::string& why) {
    std::shared_ptr<FunnelRun> run(new FunnelRun());
    run->owner_ = std::move(owner);
    run->file_ = std::move(file);
    run->checksum_ = checksum;
    if (!run->read(body, why))
        return nullptr;
    return run;
}

bool FunnelRun::read(std::string_view body, std::string& why) {
    body_ = body;
    BodyReader in(body);
    site_ = in.str();
    day_ = static_cast<std::int64_t>(in.u64());
    steps_ = in.u64();
    const std::uint32_t labels = in.u32();
    if (!in.ok() || !valid_utf8(site_) || labels > in.left() / 12) {
        why = "a bad header";
        return false;
    }
    std::uint64_t first = 0;
    for (std::uint32_t l = 0; l < labels; ++l) {
        const std::string_view name = in.str();
        const std::uint64_t count = in.u64();
        if (!in.ok() || !valid_utf8(name) || count > steps_ - first ||
            !groups_.emplace(name, Group{first, count}).second) {
            why = "a bad label table";
            return false;
        }
        first += count;
    }
    identities_ = in.u32();
    const std::uint64_t blob = in.u64();
    if (!in.ok() || first != steps_ || identities_ >= in.left() / 8) {
        why = "a bad identity table";
        return false;
    }
    offsets_at_ = in.here();
    in.take(8 * (std::uint64_t{identities_} + 1));
    blob_at_ = in.here();
    in.take(blob);
    std::uint64_t previous = 0;
    for (std::uint32_t i = 0; in.ok() && i <= identities_; ++i) {
        std::uint64_t offset = 0;
        std::memcpy(&offset, offsets_at_ + 8 * std::size_t{i}, 8);
        if (offset < previous || (i == 0 && offset != 0) || offset > blob ||
            (i == identities_ && offset != blob) || (i > 0 && !valid_utf8(identity_name(i - 1)))) {
            why = "a bad identity table";
            return false;
        }
        previous = offset;
    }
    steps_at_ = in.here();
    if (!in.ok() || steps_ > in.left() / kStepBytes || in.left() != steps_ * kStepBytes) {
        why = "the steps do not fill the rest of the file";
        return false;
    }
    for (std::uint64_t s = 0; s < steps_; ++s) {
        std::uint32_t identity = 0;
        std::memcpy(&identity, steps_at_ + s * kStepBytes, 4);
        if (identity >= identities_) {
            why = "a step names an identity the run does not hold";
            return false;
        }
    }
    return true;
}

}  // namespace tally::store
