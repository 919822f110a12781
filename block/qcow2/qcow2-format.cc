// qcow2 on-disk format helpers: header, extensions, entries, refcounts,
// snapshot table and the initial layout of a new image.  No I/O here.
#include "block/qcow2/qcow2-format-int.h"

#include <cerrno>
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace {

struct FeatureName {
    uint8_t type;  // 0 incompatible, 1 compatible, 2 autoclear
    uint8_t bit;
    const char *name;
};

// The feature name table QEMU 7.2 writes into v3 images, in its order.
constexpr FeatureName kFeatureTable[] = {
    {0, 0, "dirty bit"},        {0, 1, "corrupt bit"},         {0, 2, "external data file"},
    {0, 3, "compression type"}, {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"},
    {2, 0, "bitmaps"},          {2, 1, "raw external data"},
};
constexpr size_t kFeatureEntryLen = 48;

std::string str_printf(const char *fmt, uint64_t v)
{
    char buf[96];
    snprintf(buf, sizeof(buf), fmt, v);
    return buf;
}

// As QEMU reads the table: 48-byte entries, a short last one padded with
// zeroes, up to the first entry with an empty name.  Only incompatible
// features are named in messages; the shift wraps as it does on x86.
void parse_feature_table(const uint8_t *data, size_t len, Qcow2Header *h)
{
    h->incompat_names.clear();  // a later table replaces an earlier one
    for (size_t i = 0; i < len; i += kFeatureEntryLen) {
        uint8_t e[kFeatureEntryLen] = {};
        memcpy(e, data + i, std::min(kFeatureEntryLen, len - i));
        if (e[2] == 0) break;
        if (e[0] != 0) continue;
        size_t n = strnlen((const char *)e + 2, kFeatureEntryLen - 2);
        h->incompat_names.emplace_back(1ULL << (e[1] & 63), std::string((const char *)e + 2, n));
    }
}

int parse_extensions(const uint8_t *buf, size_t start, size_t end, Qcow2Header *h, std::string *msg)
{
    size_t off = start;
    while (off + 8 <= end) {
        uint32_t type = be32_load(buf + off);
        uint32_t len = be32_load(buf + off + 4);
        off += 8;
        if (type == QCOW2_EXT_END) return 0;
        if (len > end - off) {
            *msg = "Header extension too large";
            return -EINVAL;
        }
        const uint8_t *data = buf + off;
        if (type == QCOW2_EXT_BACKING_FORMAT) {
            if (len > 1023) {
                *msg = str_printf("ERROR: ext_backing_format: len=%" PRIu64 " too large (>=1023)",
                                  len);
                return -EINVAL;
            }
            h->backing_format.assign((const char *)data, len);
        } else if (type == QCOW2_EXT_FEATURE_TABLE) {
            parse_feature_table(data, len, h);
        } else {
            h->unknown_exts.push_back({type, std::vector<uint8_t>(data, data + len)});
        }
        off += (len + 7) & ~7u;
    }
    return 0;
}

int parse_v3_fields(const uint8_t *buf, size_t len, Qcow2Header *h, std::string *msg)
{
    if (len < 104) {
        *msg = "qcow2 header too short";
        return -EINVAL;
    }
    h->incompatible_features = be64_load(buf + 72);
    h->compatible_features = be64_load(buf + 80);
    h->autoclear_features = be64_load(buf + 88);
    h->refcount_order = be32_load(buf + 96);
    h->header_length = be32_load(buf + 100);
    if (h->header_length < 104) {
        *msg = "qcow2 header too short";
        return -EINVAL;
    }
    if (h->header_length > (1u << h->cluster_bits) || h->header_length > len) {
        *msg = "qcow2 header exceeds cluster size";
        return -EINVAL;
    }
    if (h->header_length > 104) {
        uint8_t ct = buf[104];
        if (ct > 1) {
            *msg = str_printf("qcow2: unknown compression type: %" PRIu64, ct);
            return -ENOTSUP;
        }
        h->compression_type = (Qcow2CompressionType)ct;
    }
    bool bit = h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION;
    if (bit != (h->compression_type != Qcow2CompressionType::Zlib)) {
        *msg = bit ? "qcow2: Compression type incompatible feature bit must not be set"
                   : "qcow2: Compression type incompatible feature bit must be set";
        return -EINVAL;
    }
    return 0;
}

}  // namespace

int qcow2_header_parse(const uint8_t *buf, size_t len, Qcow2Header *h, std::string *msg)
{
    *h = Qcow2Header();
    if (len < QCOW2_V2_HEADER_LEN || be32_load(buf) != QCOW2_MAGIC) {
        *msg = "Image is not in qcow2 format";
        return -EINVAL;
    }
    h->version = be32_load(buf + 4);
    if (h->version < 2 || h->version > 3) {
        *msg = str_printf("Unsupported qcow2 version %" PRIu64, h->version);
        return -ENOTSUP;
    }
    h->backing_file_offset = be64_load(buf + 8);
    h->backing_file_size = be32_load(buf + 16);
    h->cluster_bits = be32_load(buf + 20);
    h->size = be64_load(buf + 24);
    h->crypt_method = be32_load(buf + 32);
    h->l1_size = be32_load(buf + 36);
    h->l1_table_offset = be64_load(buf + 40);
    h->refcount_table_offset = be64_load(buf + 48);
    h->refcount_table_clusters = be32_load(buf + 56);
    h->nb_snapshots = be32_load(buf + 60);
    h->snapshots_offset = be64_load(buf + 64);
    if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
        *msg = str_printf("Unsupported cluster size: 2^%" PRIu64, h->cluster_bits);
        return -EINVAL;
    }
    if (h->version == 2) {
        h->refcount_order = 4;
        h->header_length = QCOW2_V2_HEADER_LEN;
    } else {
        int ret = parse_v3_fields(buf, len, h, msg);
        if (ret < 0) return ret;
    }
    size_t cs = 1u << h->cluster_bits;
    size_t ext_end = h->backing_file_offset ? h->backing_file_offset : cs;
    if (ext_end > len) ext_end = len;
    uint64_t unsupported =
        h->incompatible_features & ~QCOW2_INCOMPAT_SUPPORTED & ~QCOW2_INCOMPAT_DATA_FILE;
    if (unsupported) {
        // QEMU names the features before validating anything else, from
        // as much of the extension area as parses.
        std::string ignored;
        parse_extensions(buf, h->header_length, ext_end, h, &ignored);
        *msg = "Unsupported qcow2 feature(s): " + qcow2_incompat_feature_names(*h, unsupported);
        return -ENOTSUP;
    }
    if (h->refcount_order > 6) {
        *msg = "Reference count entry width too large; may not exceed 64 bits";
        return -EINVAL;
    }
    // AES and LUKS parse (the open refuses them with the reason); others
    // are unknown, in QEMU's words.
    if (h->crypt_method > QCOW2_CRYPT_LUKS) {
        *msg = str_printf("Unsupported encryption method %" PRIu64, h->crypt_method);
        return -EINVAL;
    }
    int ret = parse_extensions(buf, h->header_length, ext_end, h, msg);
    if (ret < 0) return ret;
    if (h->backing_file_offset) {
        if (h->backing_file_size > QCOW2_MAX_BACKING_NAME || h->backing_file_offset > cs ||
            h->backing_file_offset + h->backing_file_size > len) {
            *msg = "Backing file name too long";
            return -EINVAL;
        }
        h->backing_file.assign((const char *)buf + h->backing_file_offset, h->backing_file_size);
    }
    return 0;
}

std::string qcow2_incompat_feature_names(const Qcow2Header &h, uint64_t bits)
{
    std::string out;
    for (const auto &[bit, name] : h.incompat_names) {
        if (!(bits & bit)) continue;
        if (!out.empty()) out += ", ";
        out += name;
        bits &= ~bit;
    }
    if (bits) {
        if (!out.empty()) out += ", ";
        out += str_printf("Unknown incompatible feature: %" PRIx64, bits);
    }
    return out;
}

namespace {

// Appends one extension at *off; false if it would not fit in @end.
bool put_ext(uint8_t *buf, size_t *off, size_t end, uint32_t type, const void *data, size_t len)
{
    size_t padded = (len + 7) & ~(size_t)7;
    if (*off + 8 + padded > end) return false;
    be32_store(buf + *off, type);
    be32_store(buf + *off + 4, (uint32_t)len);
    if (len) memcpy(buf + *off + 8, data, len);
    *off += 8 + padded;
    return true;
}

bool put_feature_table(uint8_t *buf, size_t *off, size_t end)
{
    uint8_t table[sizeof(kFeatureTable) / sizeof(kFeatureTable[0]) * kFeatureEntryLen] = {};
    for (size_t i = 0; i < sizeof(kFeatureTable) / sizeof(kFeatureTable[0]); i++) {
        uint8_t *e = table + i * kFeatureEntryLen;
        e[0] = kFeatureTable[i].type;
        e[1] = kFeatureTable[i].bit;
        memcpy(e + 2, kFeatureTable[i].name, strlen(kFeatureTable[i].name));
    }
    return put_ext(buf, off, end, QCOW2_EXT_FEATURE_TABLE, table, sizeof(table));
}

}  // namespace

int qcow2_header_serialize(const Qcow2Header &h, uint8_t *buf, size_t cluster_size)
{
    memset(buf, 0, cluster_size);
    be32_store(buf, QCOW2_MAGIC);
    be32_store(buf + 4, h.version);
    be32_store(buf + 20, h.cluster_bits);
    be64_store(buf + 24, h.size);
    be32_store(buf + 32, h.crypt_method);
    be32_store(buf + 36, h.l1_size);
    be64_store(buf + 40, h.l1_table_offset);
    be64_store(buf + 48, h.refcount_table_offset);
    be32_store(buf + 56, h.refcount_table_clusters);
    be32_store(buf + 60, h.nb_snapshots);
    be64_store(buf + 64, h.snapshots_offset);
    size_t off = QCOW2_V2_HEADER_LEN;
    if (h.version >= 3) {
        be64_store(buf + 72, h.incompatible_features);
        be64_store(buf + 80, h.compatible_features);
        be64_store(buf + 88, h.autoclear_features);
        be32_store(buf + 96, h.refcount_order);
        be32_store(buf + 100, QCOW2_V3_HEADER_LEN);
        buf[104] = (uint8_t)h.compression_type;
        off = QCOW2_V3_HEADER_LEN;
    }
    size_t end = cluster_size;
    if (!h.backing_format.empty() && !put_ext(buf, &off, end, QCOW2_EXT_BACKING_FORMAT,
                                              h.backing_format.data(), h.backing_format.size())) {
        return -ENOSPC;
    }
    // QEMU's order: the data file and crypto header extensions come before
    // the feature table, which is left out when the rest would not fit
    // (512-byte clusters with LUKS, as QEMU does).
    auto early = [](uint32_t t) { return t == QCOW2_EXT_DATA_FILE || t == QCOW2_EXT_CRYPTO; };
    size_t rest = 8 + h.backing_file.size();
    for (const auto &e : h.unknown_exts) {
        if (early(e.type)) {
            if (!put_ext(buf, &off, end, e.type, e.data.data(), e.data.size())) return -ENOSPC;
        } else {
            rest += 8 + ((e.data.size() + 7) & ~(size_t)7);
        }
    }
    if (h.version >= 3 && (off + rest < end)) {
        size_t before = off;
        if (!put_feature_table(buf, &off, end - rest)) off = before;
    }
    for (const auto &e : h.unknown_exts) {
        if (early(e.type)) continue;
        if (!put_ext(buf, &off, end, e.type, e.data.data(), e.data.size())) return -ENOSPC;
    }
    if (!put_ext(buf, &off, end, QCOW2_EXT_END, nullptr, 0)) return -ENOSPC;
    if (!h.backing_file.empty()) {
        if (off + h.backing_file.size() > end) return -ENOSPC;
        memcpy(buf + off, h.backing_file.data(), h.backing_file.size());
        be64_store(buf + 8, off);
        be32_store(buf + 16, (uint32_t)h.backing_file.size());
    }
    return 0;
}

void Qcow2Geometry::init(int cluster_bits_, int refcount_order_)
{
    cluster_bits = cluster_bits_;
    l2_bits = cluster_bits - 3;
    csize_shift = 62 - (cluster_bits - 8);
    csize_mask = (1ULL << (cluster_bits - 8)) - 1;
    cluster_offset_mask = (1ULL << csize_shift) - 1;
    refcount_order = refcount_order_;
    refblock_bits = cluster_bits + 3 - refcount_order;
}

Qcow2ClusterType qcow2_l2_entry_type(uint64_t entry, int version, bool data_file)
{
    if (entry & QCOW_OFLAG_COMPRESSED) return Qcow2ClusterType::Compressed;
    if ((entry & QCOW_OFLAG_ZERO) && version >= 3) {
        return (entry & L2E_OFFSET_MASK) ? Qcow2ClusterType::ZeroAlloc
                                         : Qcow2ClusterType::ZeroPlain;
    }
    if (entry & L2E_OFFSET_MASK) return Qcow2ClusterType::Normal;
    return data_file && (entry & QCOW_OFLAG_COPIED) ? Qcow2ClusterType::Normal
                                                    : Qcow2ClusterType::Unallocated;
}

uint64_t qcow2_compressed_entry(const Qcow2Geometry &g, uint64_t host_off, uint64_t csize)
{
    uint64_t nb_csectors = ((host_off + csize - 1) >> 9) - (host_off >> 9);
    return QCOW_OFLAG_COMPRESSED | (nb_csectors << g.csize_shift) | host_off;
}

void qcow2_compressed_decode(const Qcow2Geometry &g, uint64_t entry, uint64_t *host_off,
                             uint64_t *csize)
{
    *host_off = entry & g.cluster_offset_mask;
    uint64_t nb_csectors = ((entry >> g.csize_shift) & g.csize_mask) + 1;
    *csize = nb_csectors * 512 - (*host_off & 511);
}

uint64_t qcow2_refblock_get(const void *block, int order, uint64_t i)
{
    const uint8_t *b = (const uint8_t *)block;
    switch (order) {
    case 0:
    case 1:
    case 2: {
        int bits = 1 << order;
        uint64_t bit = i * bits;
        return (b[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
    }
    case 3: return b[i];
    case 4: return be16_load(b + 2 * i);
    case 5: return be32_load(b + 4 * i);
    default: return be64_load(b + 8 * i);
    }
}

void qcow2_refblock_set(void *block, int order, uint64_t i, uint64_t v)
{
    uint8_t *b = (uint8_t *)block;
    switch (order) {
    case 0:
    case 1:
    case 2: {
        int bits = 1 << order;
        uint64_t bit = i * bits;
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << (bit % 8));
        b[bit / 8] = (uint8_t)((b[bit / 8] & ~mask) | ((v << (bit % 8)) & mask));
        break;
    }
    case 3: b[i] = (uint8_t)v; break;
    case 4: be16_store(b + 2 * i, (uint16_t)v); break;
    case 5: be32_store(b + 4 * i, (uint32_t)v); break;
    default: be64_store(b + 8 * i, v); break;
    }
}

int64_t qcow2_snapshots_parse(const uint8_t *buf, size_t len, uint32_t nb,
                              std::vector<Qcow2Snapshot> *out, std::string *msg)
{
    size_t off = 0;
    for (uint32_t i = 0; i < nb; i++) {
        if (len - off < 40) goto truncated;
        {
            Qcow2Snapshot sn;
            const uint8_t *e = buf + off;
            sn.l1_table_offset = be64_load(e);
            sn.l1_size = be32_load(e + 8);
            uint16_t id_len = be16_load(e + 12), name_len = be16_load(e + 14);
            sn.date_sec = be32_load(e + 16);
            sn.date_nsec = be32_load(e + 20);
            sn.vm_clock_nsec = be64_load(e + 24);
            sn.vm_state_size = be32_load(e + 32);
            uint32_t extra = be32_load(e + 36);
            off += 40;
            if (len - off < (uint64_t)extra + id_len + name_len) goto truncated;
            if (extra >= 8) sn.vm_state_size = be64_load(buf + off);
            if (extra >= 16) sn.disk_size = be64_load(buf + off + 8);
            if (extra >= 24) sn.icount = be64_load(buf + off + 16);
            sn.extra_size = extra;
            if (extra > QCOW2_SNAPSHOT_EXTRA_KNOWN) {
                sn.unknown_extra.assign(buf + off + QCOW2_SNAPSHOT_EXTRA_KNOWN, buf + off + extra);
            }
            off += extra;
            sn.id_str.assign((const char *)buf + off, id_len);
            off += id_len;
            sn.name.assign((const char *)buf + off, name_len);
            off += name_len;
            off = (off + 7) & ~(size_t)7;
            if (off > len) off = len;
            out->push_back(std::move(sn));
        }
    }
    return (int64_t)off;
truncated:
    *msg = "Snapshot table is truncated";
    return -EFBIG;
}

std::vector<uint8_t> qcow2_snapshots_serialize(const std::vector<Qcow2Snapshot> &sns)
{
    std::vector<uint8_t> out;
    for (const Qcow2Snapshot &sn : sns) {
        uint32_t extra = QCOW2_SNAPSHOT_EXTRA_KNOWN + (uint32_t)sn.unknown_extra.size();
        size_t at = out.size();
        size_t len = 40 + extra + sn.id_str.size() + sn.name.size();
        out.resize(at + ((len + 7) & ~(size_t)7), 0);
        uint8_t *e = out.data() + at;
        be64_store(e, sn.l1_table_offset);
        be32_store(e + 8, sn.l1_size);
        be16_store(e + 12, (uint16_t)sn.id_str.size());
        be16_store(e + 14, (uint16_t)sn.name.size());
        be32_store(e + 16, sn.date_sec);
        be32_store(e + 20, sn.date_nsec);
        be64_store(e + 24, sn.vm_clock_nsec);
        // The 32-bit field saturates; readers take the 64-bit one.
        be32_store(e + 32, sn.vm_state_size > UINT32_MAX ? 0 : (uint32_t)sn.vm_state_size);
        be32_store(e + 36, extra);
        be64_store(e + 40, sn.vm_state_size);
        be64_store(e + 48, sn.disk_size);
        be64_store(e + 56, sn.icount);
        uint8_t *p = e + 40 + QCOW2_SNAPSHOT_EXTRA_KNOWN;
        if (!sn.unknown_extra.empty()) memcpy(p, sn.unknown_extra.data(), sn.unknown_extra.size());
        p += sn.unknown_extra.size();
        memcpy(p, sn.id_str.data(), sn.id_str.size());
        memcpy(p + sn.id_str.size(), sn.name.data(), sn.name.size());
    }
    return out;
}

void qcow2_create_layout(const Qcow2Geometry &g, uint64_t size, bool prealloc,
                         Qcow2CreateLayout *out, uint64_t crypto_clusters, bool data_in_image)
{
    uint64_t cs = g.cluster_size();
    out->l1_size = g.size_to_l1(size);
    out->l1_clusters = (out->l1_size * 8 + cs - 1) / cs;
    uint64_t extra = 0;
    if (prealloc) extra = out->l1_size + (data_in_image ? g.size_to_clusters(size) : 0);
    extra += crypto_clusters;
    uint64_t t = 1, r = 1;
    for (;;) {
        uint64_t n = 1 + t + r + out->l1_clusters + extra;
        uint64_t r2 = (n + g.refblock_entries() - 1) / g.refblock_entries();
        uint64_t t2 = (r2 * 8 + cs - 1) / cs;
        if (r2 <= r && t2 <= t) break;
        r = r2 > r ? r2 : r;
        t = t2 > t ? t2 : t;
    }
    out->reftable_cluster = 1;
    out->reftable_clusters = t;
    out->refblock_cluster = 1 + t;
    out->refblocks = r;
    out->l1_cluster = 1 + t + r;
    out->crypto_cluster = out->l1_cluster + out->l1_clusters;
    out->prealloc_start = out->crypto_cluster + crypto_clusters;
    out->total_clusters = out->prealloc_start + extra - crypto_clusters;
}
