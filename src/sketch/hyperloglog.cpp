#include "tally/sketch/hyperloglog.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace tally::sketch {

namespace {

constexpr std::size_t kRegisterBytes = HyperLogLog::kDenseSize - HyperLogLog::kHeaderSize;
constexpr std::uint8_t kRegisterMax = (1 << HyperLogLog::kBits) - 1;  // 63
constexpr std::uint64_t kIndexMask = HyperLogLog::kRegisters - 1;     // low 14 bits

constexpr std::uint8_t kEncodingDense = 0;
constexpr std::uint8_t kEncodingSparse = 1;

// Redis's HLL_ALPHA_INF, written with the same literal so the product rounds the same way.
constexpr double kAlphaInf = 0.721347520444481703680;

// A little-endian load whatever the host order, as Redis's MurmurHash64A does on
// big-endian machines; memcpy keeps unaligned input legal.
std::uint64_t load_le64(const unsigned char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof(v));
    if constexpr (std::endian::native == std::endian::big) {
        v = ((v & 0x00000000000000ffULL) << 56) | ((v & 0x000000000000ff00ULL) << 40) |
            ((v & 0x0000000000ff0000ULL) << 24) | ((v & 0x00000000ff000000ULL) << 8) |
            ((v & 0x000000ff00000000ULL) >> 8) | ((v & 0x0000ff0000000000ULL) >> 24) |
            ((v & 0x00ff000000000000ULL) >> 40) | ((v & 0xff00000000000000ULL) >> 56);
    }
    return v;
}

// MurmurHash64A (Austin Appleby) as in Redis's hyperloglog.c. Redis passes the length as
// an int; members are far below 2 GiB, so the product below is the same.
std::uint64_t murmur_hash64a(const void* key, std::size_t len, std::uint64_t seed) {
    constexpr std::uint64_t m = 0xc6a4a7935bd1e995ULL;
    constexpr int r = 47;
    std::uint64_t h = seed ^ (static_cast<std::uint64_t>(len) * m);

    const auto* data = static_cast<const unsigned char*>(key);
    const unsigned char* end = data + (len - (len & 7));
    for (; data != end; data += 8) {
        std::uint64_t k = load_le64(data);
        k *= m;
        k ^= k >> r;
        k *= m;
        h ^= k;
        h *= m;
    }

    // The 1-7 byte tail, the switch falling through exactly as in the C original.
    switch (len & 7) {
        case 7:
            h ^= static_cast<std::uint64_t>(data[6]) << 48;
            [[fallthrough]];
        case 6:
            h ^= static_cast<std::uint64_t>(data[5]) << 40;
            [[fallthrough]];
        case 5:
            h ^= static_cast<std::uint64_t>(data[4]) << 32;
            [[fallthrough]];
        case 4:
            h ^= static_cast<std::uint64_t>(data[3]) << 24;
            [[fallthrough]];
        case 3:
            h ^= static_cast<std::uint64_t>(data[2]) << 16;
            [[fallthrough]];
        case 2:
            h ^= static_cast<std::uint64_t>(data[1]) << 8;
            [[fallthrough]];
        case 1:
            h ^= static_cast<std::uint64_t>(data[0]);
            h *= m;
            break;
        default:
            break;
    }

    h ^= h >> r;
    h *= m;
    h ^= h >> r;
    return h;
}

// Ertl's sigma(x) = x + sum_{k>=1} x^(2^k) 2^(k-1), Redis's hllSigma line for line:
// the loop ends when adding a term no longer changes the double.
double hll_sigma(double x) {
    if (x == 1.)
        return std::numeric_limits<double>::infinity();
    double z_prime;
    double y = 1;
    double z = x;
    do {
        x *= x;
        z_prime = z;
        z += x * y;
        y += y;
    } while (z_prime != z);
    return z;
}

// Ertl's tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 2^-k) / 3, Redis's hllTau.
// pow(·, 2) rather than a product: it is what Redis evaluates (and exact either way).
double hll_tau(double x) {
    if (x == 0. || x == 1.)
        return 0.;
    double z_prime;
    double y = 1.0;
    double z = 1 - x;
    do {
        x = std::sqrt(x);
        z_prime = z;
        y *= 0.5;
        z -= std::pow(1 - x, 2) * y;
    } while (z_prime != z);
    return z / 3;
}

}  // namespace

HyperLogLog::HyperLogLog() {
    registers_.fill(0);
}

std::uint64_t HyperLogLog::hash(std::string_view member) {
    return murmur_hash64a(member.data(), member.size(), kHashSeed);
}

bool HyperLogLog::add(std::string_view member) {
    return add_hash(hash(member));
}

bool HyperLogLog::add_hash(std::uint64_t hash) {
    // hllPatLen: the low kP bits choose the register, the remaining 50 bits (with a guard
    // bit above them, so an all-zero remainder gives 51 and not 65) give the run length.
    const std::size_t index = hash & kIndexMask;
    const std::uint64_t rest = (hash >> kP) | (std::uint64_t{1} << kQ);
    const auto count = static_cast<std::uint8_t>(std::countr_zero(rest) + 1);
    if (count <= registers_[index])
        return false;
    registers_[index] = count;
    return true;
}

std::uint64_t HyperLogLog::count() const {
    // Register histogram. 64 slots as in Redis: a parsed dense string may hold any six-bit
    // value, and the slots above q + 1 are counted but, as in Redis, never read.
    // Four partial histograms, so consecutive registers with the same value do not wait
    // on each other's increment; summed after. Same counts, about twice as fast.
    int partial[4][64] = {};
    for (std::size_t i = 0; i < kRegisters; i += 4) {
        ++partial[0][registers_[i]];
        ++partial[1][registers_[i + 1]];
        ++partial[2][registers_[i + 2]];
        ++partial[3][registers_[i + 3]];
    }
    int histogram[64];
    for (int v = 0; v < 64; ++v)
        histogram[v] = partial[0][v] + partial[1][v] + partial[2][v] + partial[3][v];

    return ertl_estimate(histogram, kRegisters, kQ);
}

std::uint64_t ertl_estimate(const int* histogram, std::size_t registers, int q) {
    // hllCount, the same double operations in the same order (see the header essay).
    const auto m = static_cast<double>(registers);
    double z = m * hll_tau((m - histogram[q + 1]) / m);
    for (int j = q; j >= 1; --j) {
        z += histogram[j];
        z *= 0.5;
    }
    z += m * hll_sigma(histogram[0] / m);
    // std::llround of a long double is llroundl. Redis keeps its result in a double, then
    // casts that to uint64_t. Only a crafted string with every register above 50 gives
    // z == 0; llroundl(inf) is then LLONG_MIN, which Redis's cast turns into 2^63 on
    // x86-64. Reproduce that without the undefined negative-to-unsigned conversion.
    const double e =
        static_cast<double>(std::llround(static_cast<long double>(kAlphaInf * m * m / z)));
    if (!(e >= 0))
        return std::uint64_t{1} << 63;
    return static_cast<std::uint64_t>(e);
}

void HyperLogLog::merge(const HyperLogLog& other) {
    for (std::size_t i = 0; i < kRegisters; ++i) {
        registers_[i] = std::max(registers_[i], other.registers_[i]);
    }
}

std::uint8_t HyperLogLog::register_at(std::size_t index) const {
    return registers_.at(index);
}

bool HyperLogLog::empty() const {
    return std::all_of(registers_.begin(), registers_.end(), [](std::uint8_t r) { return r == 0; });
}

std::string HyperLogLog::dense_bytes() const {
    std::string out(kDenseSize, '\0');
    auto* p = reinterpret_cast<unsigned char*>(out.data());

    std::memcpy(p, "HYLL",
                4);  // NOLINT(bugprone-not-null-terminated-result): a magic, not a C string
    p[4] = kEncodingDense;
    // Bytes 8-15: the cardinality, little-endian. A real estimate is far below 2^63, so
    // bit 7 of byte 15 stays clear and Redis trusts the cache; in the one crafted case
    // where count() is 2^63 the bit is set and Redis recomputes the same value.
    const std::uint64_t card = count();
    for (int i = 0; i < 8; ++i)
        p[8 + i] = static_cast<unsigned char>(card >> (8 * i));

    // Four registers, 24 bits, per three bytes: the LSB-first stream of the essay.
    unsigned char* out_regs = p + kHeaderSize;
    for (std::size_t i = 0; i < kRegisters; i += 4, out_regs += 3) {
        const std::uint32_t word =
            std::uint32_t{registers_[i]} | std::uint32_t{registers_[i + 1]} << 6 |
            std::uint32_t{registers_[i + 2]} << 12 | std::uint32_t{registers_[i + 3]} << 18;
        out_regs[0] = static_cast<unsigned char>(word);
        out_regs[1] = static_cast<unsigned char>(word >> 8);
        out_regs[2] = static_cast<unsigned char>(word >> 16);
    }
    return out;
}

std::optional<HyperLogLog> HyperLogLog::from_redis_bytes(std::string_view bytes) {
    // The checks Redis makes in isHLLObjectOrReply(): header present, magic, a known
    // encoding, and the exact dense length. Bytes 5-7 and the cached cardinality are not
    // checked there either; the cardinality is recomputed from the registers anyway.
    if (bytes.size() < kHeaderSize || bytes.substr(0, 4) != "HYLL")
        return std::nullopt;
    const auto encoding = static_cast<std::uint8_t>(bytes[4]);
    const std::string_view data = bytes.substr(kHeaderSize);

    HyperLogLog hll;
    bool ok = false;
    if (encoding == kEncodingDense) {
        ok = hll.parse_dense(data);
    } else if (encoding == kEncodingSparse) {
        ok = hll.parse_sparse(data);
    }
    if (!ok)
        return std::nullopt;
    return hll;
}

bool HyperLogLog::parse_dense(std::string_view data) {
    if (data.size() != kRegisterBytes)
        return false;
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    for (std::size_t i = 0; i < kRegisters; i += 4, p += 3) {
        const std::uint32_t word =
            std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16;
        registers_[i] = word & kRegisterMax;
        registers_[i + 1] = (word >> 6) & kRegisterMax;
        registers_[i + 2] = (word >> 12) & kRegisterMax;
        registers_[i + 3] = (word >> 18) & kRegisterMax;
    }
    return true;
}

bool HyperLogLog::parse_sparse(std::string_view data) {
    // registers_ starts all zero, so zero runs only advance the position. Every run is
    // checked against the registers left before it is applied, so a corrupt length can
    // neither write past the array nor wrap the position.
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    const unsigned char* end = p + data.size();
    std::size_t index = 0;
    while (p < end) {
        std::size_t run;
        std::uint8_t value = 0;
        if ((*p & 0xc0) == 0x00) {  // ZERO 00xxxxxx
            run = (*p & 0x3f) + 1u;
            p += 1;
        } else if ((*p & 0xc0) == 0x40) {  // XZERO 01xxxxxx yyyyyyyy
            // Redis would read the string's trailing NUL as the second byte of a cut
            // XZERO; a truncated opcode is malformed, so reject it instead.
            if (end - p < 2)
                return false;
            run = ((std::size_t{p[0]} & 0x3f) << 8 | p[1]) + 1;
            p += 2;
        } else {  // VAL 1vvvvvxx
            value = static_cast<std::uint8_t>(((*p >> 2) & 0x1f) + 1);
            run = (*p & 0x3u) + 1;
            p += 1;
        }
        if (run > kRegisters - index)
            return false;
        if (value != 0)
            std::fill_n(registers_.begin() + index, run, value);
        index += run;
    }
    // The runs must describe every register exactly once (Redis: "Corrupted HLL object").
    return index == kRegisters;
}

bool HyperLogLog::operator==(const HyperLogLog& other) const {
    return registers_ == other.registers_;
}

}  // namespace tally::sketch
