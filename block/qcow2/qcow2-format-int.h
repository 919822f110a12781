// qcow2 on-disk format: constants, header (de)serialisation, table entry
// decoding and refcount block accessors.  Pure functions without I/O, so
// the unit tests exercise them directly (tests/unit/qcow2/).
//
// Reference: QEMU docs/interop/qcow2.txt.  All on-disk numbers are
// big-endian; the structs here hold host-endian values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

constexpr uint32_t QCOW2_MAGIC = 0x514649fb;  // "QFI\xfb"
constexpr int QCOW2_MIN_CLUSTER_BITS = 9;
constexpr int QCOW2_MAX_CLUSTER_BITS = 21;
constexpr uint32_t QCOW2_V2_HEADER_LEN = 72;
constexpr uint32_t QCOW2_V3_HEADER_LEN = 112;  // with compression_type + padding

constexpr uint64_t QCOW_OFLAG_COPIED = 1ULL << 63;
constexpr uint64_t QCOW_OFLAG_COMPRESSED = 1ULL << 62;
constexpr uint64_t QCOW_OFLAG_ZERO = 1ULL << 0;
constexpr uint64_t L1E_OFFSET_MASK = 0x00fffffffffffe00ULL;
constexpr uint64_t L2E_OFFSET_MASK = 0x00fffffffffffe00ULL;
constexpr uint64_t REFT_OFFSET_MASK = 0xfffffffffffffe00ULL;
constexpr uint64_t REFT_RESERVED_MASK = 0x1ffULL;
constexpr uint64_t L1E_RESERVED_MASK = 0x7f000000000001ffULL;
constexpr uint64_t L2E_STD_RESERVED_MASK = 0x3f000000000001feULL;

constexpr uint64_t QCOW2_INCOMPAT_DIRTY = 1 << 0;
constexpr uint64_t QCOW2_INCOMPAT_CORRUPT = 1 << 1;
constexpr uint64_t QCOW2_INCOMPAT_DATA_FILE = 1 << 2;
constexpr uint64_t QCOW2_INCOMPAT_COMPRESSION = 1 << 3;
constexpr uint64_t QCOW2_INCOMPAT_EXTL2 = 1 << 4;
// Incompatible bits this driver implements.
constexpr uint64_t QCOW2_INCOMPAT_SUPPORTED = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT |
                                              QCOW2_INCOMPAT_DATA_FILE | QCOW2_INCOMPAT_COMPRESSION;
constexpr uint64_t QCOW2_COMPAT_LAZY_REFCOUNTS = 1 << 0;

constexpr uint32_t QCOW2_EXT_END = 0;
constexpr uint32_t QCOW2_EXT_BACKING_FORMAT = 0xe2792aca;
constexpr uint32_t QCOW2_EXT_FEATURE_TABLE = 0x6803f857;
constexpr uint32_t QCOW2_EXT_CRYPTO = 0x0537be77;     // kept in unknown_exts
constexpr uint32_t QCOW2_EXT_DATA_FILE = 0x44415441;  // kept in unknown_exts
constexpr uint32_t QCOW2_EXT_BITMAPS = 0x23852875;    // kept in unknown_exts
constexpr uint64_t QCOW2_AUTOCLEAR_BITMAPS = 1 << 0;
constexpr uint64_t QCOW2_AUTOCLEAR_DATA_FILE_RAW = 1 << 1;
constexpr uint32_t QCOW2_CRYPT_AES = 1;
constexpr uint32_t QCOW2_CRYPT_LUKS = 2;

constexpr uint64_t QCOW2_MAX_L1_BYTES = 32 * 1024 * 1024;
constexpr uint64_t QCOW2_MAX_REFTABLE_BYTES = 8 * 1024 * 1024;
constexpr uint64_t QCOW2_MAX_SNAPSHOTS = 65536;
constexpr uint64_t QCOW2_SNAPSHOT_HEADER_LEN = 40;  // fixed part of a table entry
constexpr int QCOW2_MAX_BACKING_NAME = 1023;

enum class Qcow2CompressionType : uint8_t { Zlib = 0, Zstd = 1 };

struct Qcow2HeaderExt {
    uint32_t type;
    std::vector<uint8_t> data;
};

struct Qcow2Header {
    uint32_t version = 3;
    uint64_t backing_file_offset = 0;
    uint32_t backing_file_size = 0;
    uint32_t cluster_bits = 16;
    uint64_t size = 0;
    uint32_t crypt_method = 0;
    uint32_t l1_size = 0;
    uint64_t l1_table_offset = 0;
    uint64_t refcount_table_offset = 0;
    uint32_t refcount_table_clusters = 0;
    uint32_t nb_snapshots = 0;
    uint64_t snapshots_offset = 0;
    uint64_t incompatible_features = 0;
    uint64_t compatible_features = 0;
    uint64_t autoclear_features = 0;
    uint32_t refcount_order = 4;
    uint32_t header_length = QCOW2_V3_HEADER_LEN;
    Qcow2CompressionType compression_type = Qcow2CompressionType::Zlib;

    // From the extension area and the backing name field.
    std::string backing_file;
    std::string backing_format;
    std::vector<Qcow2HeaderExt> unknown_exts;                      // preserved on rewrite
    std::vector<std::pair<uint64_t, std::string>> incompat_names;  // feature table
};

// Big-endian helpers.
static inline uint64_t be64_load(const void *p)
{
    const uint8_t *b = (const uint8_t *)p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}
static inline uint32_t be32_load(const void *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}
static inline uint16_t be16_load(const void *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return (uint16_t)((b[0] << 8) | b[1]);
}
static inline void be64_store(void *p, uint64_t v)
{
    uint8_t *b = (uint8_t *)p;
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (uint8_t)v;
}
static inline void be32_store(void *p, uint32_t v)
{
    uint8_t *b = (uint8_t *)p;
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}
static inline void be16_store(void *p, uint16_t v)
{
    uint8_t *b = (uint8_t *)p;
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

// Parses the first cluster of an image.  On failure returns -errno and sets
// *msg to QEMU's message.  Does not validate table offsets (see open).
int qcow2_header_parse(const uint8_t *buf, size_t len, Qcow2Header *h, std::string *msg);
// Serialises @h (fields, extensions, backing name) into @buf of
// @cluster_size bytes.  Returns -ENOSPC if it does not fit in one cluster.
int qcow2_header_serialize(const Qcow2Header &h, uint8_t *buf, size_t cluster_size);
// "dirty bit, corrupt bit" style list of @bits using the image's feature
// table, "Unknown incompatible feature: <hex>" for bits without a name.
std::string qcow2_incompat_feature_names(const Qcow2Header &h, uint64_t bits);

// ---- L2 entries ----------------------------------------------------------
enum class Qcow2ClusterType { Unallocated, ZeroPlain, ZeroAlloc, Normal, Compressed };

struct Qcow2Geometry {
    int cluster_bits;
    int l2_bits;      // entries per L2 table = 1 << l2_bits
    int csize_shift;  // compressed descriptor: sector count position
    uint64_t csize_mask;
    uint64_t cluster_offset_mask;
    int refcount_order;
    int refblock_bits;  // entries per refcount block = 1 << refblock_bits

    void init(int cluster_bits_, int refcount_order_);
    uint64_t cluster_size() const { return 1ULL << cluster_bits; }
    uint64_t l2_entries() const { return 1ULL << l2_bits; }
    uint64_t l2_span() const { return 1ULL << (cluster_bits + l2_bits); }
    uint64_t refblock_entries() const { return 1ULL << refblock_bits; }
    uint64_t refcount_max() const
    {
        return refcount_order == 6 ? UINT64_MAX : (1ULL << (1 << refcount_order)) - 1;
    }
    uint64_t l1_index(uint64_t off) const { return off >> (cluster_bits + l2_bits); }
    uint64_t l2_index(uint64_t off) const { return (off >> cluster_bits) & (l2_entries() - 1); }
    uint64_t size_to_clusters(uint64_t n) const { return (n + cluster_size() - 1) >> cluster_bits; }
    uint64_t size_to_l1(uint64_t size) const
    {
        return (size + l2_span() - 1) >> (cluster_bits + l2_bits);
    }
};

// With @data_file, an entry with offset 0 and the COPIED flag is a normal
// cluster (offset 0 of the external data file).
Qcow2ClusterType qcow2_l2_entry_type(uint64_t entry, int version, bool data_file = false);

// Compressed cluster descriptors.
uint64_t qcow2_compressed_entry(const Qcow2Geometry &g, uint64_t host_off, uint64_t csize);
void qcow2_compressed_decode(const Qcow2Geometry &g, uint64_t entry, uint64_t *host_off,
                             uint64_t *csize);

// ---- refcount blocks -----------------------------------------------------
uint64_t qcow2_refblock_get(const void *block, int refcount_order, uint64_t index);
void qcow2_refblock_set(void *block, int refcount_order, uint64_t index, uint64_t value);

// ---- snapshot table --------------------------------------------------------
struct Qcow2Snapshot {
    uint64_t l1_table_offset = 0;
    uint32_t l1_size = 0;
    std::string id_str, name;
    uint32_t date_sec = 0, date_nsec = 0;
    uint64_t vm_clock_nsec = 0;
    uint64_t vm_state_size = 0;
    uint64_t disk_size = 0;
    uint64_t icount = UINT64_MAX;
    uint32_t extra_size = 0;             // extra data size as read
    std::vector<uint8_t> unknown_extra;  // extra data past the known 24 bytes
};
constexpr uint32_t QCOW2_SNAPSHOT_EXTRA_KNOWN = 24;  // vm_state_size_large, disk_size, icount
// Parses @nb entries from @buf; returns bytes consumed or -errno.
int64_t qcow2_snapshots_parse(const uint8_t *buf, size_t len, uint32_t nb,
                              std::vector<Qcow2Snapshot> *out, std::string *msg);
// Serialises @sns as a snapshot table (every entry with the 24 known bytes
// of extra data followed by its unknown extra data, padded to 8 bytes).
std::vector<uint8_t> qcow2_snapshots_serialize(const std::vector<Qcow2Snapshot> &sns);

// ---- create layout ---------------------------------------------------------
// Cluster indexes of the metadata a new image starts with (QEMU's layout:
// header, refcount table, refcount blocks, L1, then (preallocated) L2 tables
// each followed by the data clusters it maps).
struct Qcow2CreateLayout {
    uint64_t reftable_cluster, reftable_clusters;
    uint64_t refblock_cluster, refblocks;
    uint64_t l1_cluster, l1_clusters, l1_size;
    uint64_t crypto_cluster;  // LUKS header area (after L1, as QEMU allocates it)
    uint64_t prealloc_start;  // first L2 cluster when preallocating
    uint64_t total_clusters;  // every cluster with refcount 1
};
// @data_in_image false: preallocated data lives in an external data file.
void qcow2_create_layout(const Qcow2Geometry &g, uint64_t size, bool prealloc,
                         Qcow2CreateLayout *out, uint64_t crypto_clusters = 0,
                         bool data_in_image = true);
