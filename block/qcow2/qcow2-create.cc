// Image creation (qemu-img create -f qcow2 -o ...).  The initial metadata
// is laid out as QEMU does (header, refcount table, refcount blocks, L1,
// then preallocated L2 tables and data) and written in one pass to the file
// the protocol driver created.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>

#include "block/qcow2/qcow2-int.h"
#include "block/qcow2/qcow2-subcluster.h"
#include "util/iov.h"

const CreateOptDesc qcow2_create_opts[] = {
    {"size", CreateOptType::Size, "Virtual disk size", nullptr},
    {"compat", CreateOptType::String, "Compatibility level (v2 [0.10] or v3 [1.1])", nullptr},
    {"backing_file", CreateOptType::String, "File name of a base image", nullptr},
    {"backing_fmt", CreateOptType::String, "Image format of the base image", nullptr},
    {"cluster_size", CreateOptType::Size, "qcow2 cluster size", "65536"},
    {"extended_l2", CreateOptType::Bool, "Extended L2 tables", "off"},
    {"preallocation", CreateOptType::String,
     "Preallocation mode (allowed values: off, metadata, falloc, full)", nullptr},
    {"compression_type", CreateOptType::String,
     "Compression method used for image cluster compression", "zlib"},
    {"lazy_refcounts", CreateOptType::Bool, "Postpone refcount updates", "off"},
    {"refcount_bits", CreateOptType::Number, "Width of a reference count entry in bits", "16"},
    {"data_file", CreateOptType::String, "File name of an external data file", nullptr},
    {"data_file_raw", CreateOptType::Bool, "The external data file must stay valid as a raw image",
     nullptr},
    {"encryption", CreateOptType::Bool,
     "Encrypt the image with format 'aes'. (Deprecated in favor of encrypt.format=aes)", nullptr},
    {"encrypt.format", CreateOptType::String, "Encrypt the image, format choices: 'aes', 'luks'",
     nullptr},
    {"encrypt.key-secret", CreateOptType::String,
     "ID of secret providing qcow AES key or LUKS passphrase", nullptr},
    {"encrypt.cipher-alg", CreateOptType::String, "Name of encryption cipher algorithm", nullptr},
    {"encrypt.cipher-mode", CreateOptType::String, "Name of encryption cipher mode", nullptr},
    {"encrypt.ivgen-alg", CreateOptType::String, "Name of IV generator algorithm", nullptr},
    {"encrypt.ivgen-hash-alg", CreateOptType::String, "Name of IV generator hash algorithm",
     nullptr},
    {"encrypt.hash-alg", CreateOptType::String, "Name of encryption hash algorithm", nullptr},
    {"encrypt.iter-time", CreateOptType::Number, "Time to spend in PBKDF in milliseconds", nullptr},
    {nullptr, CreateOptType::String, nullptr, nullptr},
};

namespace {

struct CreateParams {
    Qcow2Header hdr;
    PreallocMode prealloc = PreallocMode::Off;
    QCryptoBlockCreateOptions crypto;  // when hdr.crypt_method is set
    std::vector<uint8_t> crypto_hdr;   // LUKS header area (qcow2-crypto.cc)
    std::string data_file;             // external data file ("" for none)
};

const char *kUseV3 = "(use version=v3 or greater)";

bool parse_bool_opt(QDict *opts, const char *key, bool *out, Error **errp)
{
    const char *v = opts->get(key);
    if (!v) return true;
    if (!keyval_parse_bool(v, out)) {
        error_setg(errp, "Parameter '%s' expects 'on' or 'off'", key);
        return false;
    }
    return true;
}

int parse_sizes(QDict *opts, CreateParams *p, Error **errp)
{
    uint64_t v = 0;
    const char *s = opts->get("size");
    if (s && qemu_strtosz(s, &v) < 0) {
        error_setg(errp, "Parameter 'size' expects a non-negative number below 2^64");
        return -EINVAL;
    }
    // As QEMU's qcow2 create: the size recorded is rounded up to whole
    // sectors (open rounds down, so 1234 bytes must become 1536).
    p->hdr.size = v <= UINT64_MAX - 511 ? (v + 511) & ~511ULL : v;
    uint64_t cs = 65536;
    s = opts->get("cluster_size");
    if (s && qemu_strtosz(s, &cs) < 0) cs = 0;
    if (cs < 512 || cs > 2 * 1024 * 1024 || (cs & (cs - 1))) {
        error_setg(errp, "Cluster size must be a power of two between 512 and 2048k");
        return -EINVAL;
    }
    p->hdr.cluster_bits = (uint32_t)__builtin_ctzll(cs);
    uint64_t bits = 16;
    s = opts->get("refcount_bits");
    if (s && qemu_strtosz(s, &bits) < 0) bits = 0;
    if (bits == 0 || bits > 64 || (bits & (bits - 1))) {
        error_setg(errp, "Refcount width must be a power of two and may not exceed 64 bits");
        return -EINVAL;
    }
    p->hdr.refcount_order = (uint32_t)__builtin_ctzll(bits);
    return 0;
}

int parse_features(QDict *opts, CreateParams *p, Error **errp)
{
    const char *s = opts->get("compat");
    if (!s || !strcmp(s, "1.1") || !strcmp(s, "v3")) {
        p->hdr.version = 3;
    } else if (!strcmp(s, "0.10") || !strcmp(s, "v2")) {
        p->hdr.version = 2;
    } else {
        error_setg(errp, "Parameter 'version' does not accept value '%s'", s);
        return -EINVAL;
    }
    s = opts->get("compression_type");
    if (s && strcmp(s, "zlib") && strcmp(s, "zstd")) {
        error_setg(errp, "Parameter 'compression-type' does not accept value '%s'", s);
        return -EINVAL;
    }
    bool zstd = s && !strcmp(s, "zstd");
    bool lazy = false, extl2 = false;
    if (!parse_bool_opt(opts, "lazy_refcounts", &lazy, errp) ||
        !parse_bool_opt(opts, "extended_l2", &extl2, errp)) {
        return -EINVAL;
    }
    s = opts->get("preallocation");
    if (s && !prealloc_mode_parse(s, &p->prealloc)) {
        error_setg(errp, "Parameter 'preallocation' does not accept value '%s'", s);
        return -EINVAL;
    }
    // QEMU validates extended L2 entries before the other v3-only options.
    if (extl2 && p->hdr.version < 3) {
        error_setg(errp,
                   "Extended L2 entries are only supported with compatibility level 1.1 "
                   "and above %s",
                   kUseV3);
        return -EINVAL;
    }
    if (extl2 && (1ULL << p->hdr.cluster_bits) < QCOW2_EXTL2_MIN_CLUSTER_SIZE) {
        error_setg(errp,
                   "Extended L2 entries are only supported with cluster sizes of at least %u "
                   "bytes",
                   (unsigned)QCOW2_EXTL2_MIN_CLUSTER_SIZE);
        return -EINVAL;
    }
    if (p->hdr.version < 3) {
        const char *msg = nullptr;
        if (lazy) {
            msg = "Lazy refcounts only supported with compatibility level 1.1 and above";
        } else if (p->hdr.refcount_order != 4) {
            msg = "Different refcount widths than 16 bits require compatibility level 1.1 "
                  "or above";
        } else if (zstd) {
            msg = "Non-zlib compression type is only supported with compatibility level 1.1 "
                  "and above";
        }
        if (msg) {
            error_setg(errp, "%s %s", msg, kUseV3);
            return -EINVAL;
        }
        p->hdr.header_length = QCOW2_V2_HEADER_LEN;
    }
    if (extl2) {
        error_setg(errp, "Extended L2 entries are not supported by qcow-lite");
        return -ENOTSUP;
    }
    if (lazy) p->hdr.compatible_features |= QCOW2_COMPAT_LAZY_REFCOUNTS;
    if (zstd) {
        p->hdr.compression_type = Qcow2CompressionType::Zstd;
        p->hdr.incompatible_features |= QCOW2_INCOMPAT_COMPRESSION;
    }
    return 0;
}

int parse_backing(QDict *opts, CreateParams *p, Error **errp)
{
    const char *bf = opts->get("backing_file");
    const char *fmt = opts->get("backing_fmt");
    if (fmt && !bf) {
        error_setg(errp, "Backing format cannot be used without backing file");
        return -EINVAL;
    }
    if (bf) {
        if (strlen(bf) > QCOW2_MAX_BACKING_NAME) {
            error_setg(errp, "Backing file name too long");
            return -EINVAL;
        }
        p->hdr.backing_file = bf;
        if (fmt) p->hdr.backing_format = fmt;
        if (p->prealloc != PreallocMode::Off) {
            error_setg(errp, "Backing file and preallocation can only be used at the same "
                             "time if extended_l2 is on");
            return -EINVAL;
        }
    }
    return 0;
}

struct Fd {
    int fd;
    ~Fd()
    {
        if (fd >= 0) close(fd);
    }
};

int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = (const uint8_t *)buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

// Writes refcounts for clusters [0, total) and points the table at them.
int write_refcounts(int fd, const Qcow2Geometry &g, const Qcow2CreateLayout &l)
{
    uint64_t cs = g.cluster_size();
    std::vector<uint8_t> table(l.reftable_clusters * cs, 0);
    for (uint64_t i = 0; i < l.refblocks; i++) {
        be64_store(&table[i * 8], (l.refblock_cluster + i) * cs);
    }
    int ret = pwrite_all(fd, table.data(), table.size(), l.reftable_cluster * cs);
    std::vector<uint8_t> block(cs);
    for (uint64_t b = 0; ret == 0 && b < l.refblocks; b++) {
        std::fill(block.begin(), block.end(), 0);
        for (uint64_t i = 0; i < g.refblock_entries(); i++) {
            if (b * g.refblock_entries() + i >= l.total_clusters) break;
            qcow2_refblock_set(block.data(), g.refcount_order, i, 1);
        }
        ret = pwrite_all(fd, block.data(), cs, (l.refblock_cluster + b) * cs);
    }
    return ret;
}

// Preallocated metadata: each L2 table is followed by the data it maps; with
// an external data file (@in_data_file) the L2 tables follow each other and
// map every guest cluster to the same offset of the data file.
int write_prealloc(int fd, const Qcow2Geometry &g, const Qcow2CreateLayout &l, uint64_t size,
                   PreallocMode mode, bool in_data_file)
{
    uint64_t cs = g.cluster_size();
    std::vector<uint8_t> l1(l.l1_clusters * cs, 0), l2(cs);
    uint64_t next = l.prealloc_start, data_left = g.size_to_clusters(size), guest = 0;
    for (uint64_t i = 0; i < l.l1_size; i++) {
        uint64_t l2_off = next++ * cs;
        be64_store(&l1[i * 8], l2_off | QCOW_OFLAG_COPIED);
        std::fill(l2.begin(), l2.end(), 0);
        uint64_t n = data_left < g.l2_entries() ? data_left : g.l2_entries();
        for (uint64_t k = 0; k < n; k++) {
            uint64_t host = in_data_file ? (guest + k) * cs : (next + k) * cs;
            be64_store(&l2[k * 8], host | QCOW_OFLAG_COPIED);
        }
        int ret = pwrite_all(fd, l2.data(), cs, l2_off);
        if (ret < 0) return ret;
        data_left -= n;
        guest += n;
        if (in_data_file) continue;
        if (mode == PreallocMode::Falloc &&
            posix_fallocate(fd, (off_t)(next * cs), (off_t)(n * cs)) != 0) {
            return -errno;
        }
        if (mode == PreallocMode::Full) {
            std::vector<uint8_t> zero(cs, 0);
            for (uint64_t k = 0; k < n; k++) {
                ret = pwrite_all(fd, zero.data(), cs, (next + k) * cs);
                if (ret < 0) return ret;
            }
        }
        next += n;
    }
    if (ftruncate(fd, (off_t)(next * cs)) < 0) return -errno;
    return pwrite_all(fd, l1.data(), l1.size(), l.l1_cluster * cs);
}

// The layout of the new image; fails when its L1 table is too large.
int plan_image(CreateParams *p, Qcow2Geometry *g, Qcow2CreateLayout *l, Error **errp)
{
    // QEMU creates an empty image and resizes it to the size rounded up to
    // sectors, so the block layer's truncate checks speak first: a size
    // that rounds past INT64_MAX is negative, one past BDRV_MAX_LENGTH
    // fails the request check.
    uint64_t sector = BDRV_SECTOR_BYTES;
    int64_t rounded = (int64_t)((p->hdr.size + sector - 1) & ~(sector - 1));
    if (rounded < 0) {
        error_setg(errp, "Could not resize image: Image size cannot be negative");
        return -EINVAL;
    }
    if (rounded > BDRV_MAX_LENGTH) {
        error_setg(errp, "Could not resize image: offset(%" PRId64 ") exceeds maximum(%" PRId64 ")",
                   rounded, BDRV_MAX_LENGTH);
        return -EIO;
    }
    g->init((int)p->hdr.cluster_bits, (int)p->hdr.refcount_order);
    uint64_t cs = g->cluster_size();
    bool prealloc = p->prealloc != PreallocMode::Off;
    uint64_t crypto_clusters = g->size_to_clusters(p->crypto_hdr.size());
    qcow2_create_layout(*g, p->hdr.size, prealloc, l, crypto_clusters, p->data_file.empty());
    if (crypto_clusters) {
        // The full disk encryption header pointer: be64 offset, be64 length.
        Qcow2HeaderExt e{QCOW2_EXT_CRYPTO, std::vector<uint8_t>(16)};
        be64_store(e.data.data(), l->crypto_cluster * cs);
        be64_store(e.data.data() + 8, p->crypto_hdr.size());
        p->hdr.unknown_exts.push_back(e);
    }
    Qcow2Header &h = p->hdr;
    h.l1_size = (uint32_t)l->l1_size;
    h.l1_table_offset = l->l1_size ? l->l1_cluster * cs : 0;
    h.refcount_table_offset = l->reftable_cluster * cs;
    h.refcount_table_clusters = (uint32_t)l->reftable_clusters;
    if (l->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        error_setg(errp, "The image size is too large for file format 'qcow2' (try using a "
                         "larger cluster size)");
        return -EFBIG;
    }
    return 0;
}

// Writes the planned image into @fd (emptied first).
int write_layout(int fd, CreateParams *p, const Qcow2Geometry &g, const Qcow2CreateLayout &l,
                 Error **errp)
{
    uint64_t cs = g.cluster_size();
    Qcow2Header &h = p->hdr;
    uint64_t crypto_clusters = g.size_to_clusters(p->crypto_hdr.size());
    std::vector<uint8_t> hbuf(cs);
    int ret = qcow2_header_serialize(h, hbuf.data(), cs);
    if (ret < 0) {
        error_setg(errp, "Header extensions do not fit in one cluster");
        return ret;
    }
    // The header goes last: until it is written the file is not a qcow2
    // image at all, so a process killed in the middle (a fatal signal also
    // cuts a pwrite short) never leaves a header pointing at refcount or L1
    // tables past the end of the file, which check calls corruption.
    if (ftruncate(fd, 0) < 0) ret = -errno;
    if (ret == 0) ret = write_refcounts(fd, g, l);
    if (ret == 0 && p->prealloc != PreallocMode::Off) {
        ret = write_prealloc(fd, g, l, h.size, p->prealloc, !p->data_file.empty());
    } else if (ret == 0 && l.l1_size) {
        std::vector<uint8_t> zero(l.l1_size * 8, 0);
        ret = pwrite_all(fd, zero.data(), zero.size(), l.l1_cluster * cs);
    }
    // The LUKS header area: only its non-zero blocks are written (header
    // and key slot 0), the rest stays a hole as in QEMU's images.
    uint64_t crypto_end = (l.crypto_cluster + crypto_clusters) * cs;
    if (ret == 0 && crypto_clusters) {
        struct stat st;
        if (fstat(fd, &st) < 0) ret = -errno;
        if (ret == 0 && (uint64_t)st.st_size < crypto_end && ftruncate(fd, (off_t)crypto_end) < 0) {
            ret = -errno;
        }
        for (size_t off = 0; ret == 0 && off < p->crypto_hdr.size(); off += 4096) {
            size_t n = std::min<size_t>(4096, p->crypto_hdr.size() - off);
            const uint8_t *d = p->crypto_hdr.data() + off;
            if (!buffer_is_zero(d, n)) ret = pwrite_all(fd, d, n, l.crypto_cluster * cs + off);
        }
    }
    if (ret == 0) ret = pwrite_all(fd, hbuf.data(), cs, 0);
    if (ret == 0 && fsync(fd) < 0) ret = -errno;
    if (ret < 0) error_setg_errno(errp, -ret, "Could not write qcow2 header");
    return ret;
}

int write_image(const char *filename, CreateParams *p, Error **errp)
{
    Qcow2Geometry g;
    Qcow2CreateLayout l;
    int ret = plan_image(p, &g, &l, errp);
    if (ret < 0) return ret;
    Fd fd{open(filename, O_RDWR)};
    if (fd.fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", filename);
        return -errno;
    }
    return write_layout(fd.fd, p, g, l, errp);
}

// Copies [off, off + len) of @fd to @c, leaving out all-zero chunks but the
// last (the file reads zeroes there already; the last one makes the file
// end where a write there would have made it end, as in QEMU).
int coroutine_fn upload_range(int fd, BdrvChild *c, uint64_t off, uint64_t len)
{
    std::vector<uint8_t> buf(1 << 20);
    while (len) {
        size_t n = (size_t)std::min<uint64_t>(len, buf.size());
        if (pread(fd, buf.data(), n, (off_t)off) != (ssize_t)n) return -EIO;
        bool zero =
            n < len && std::all_of(buf.begin(), buf.begin() + n, [](uint8_t b) { return b == 0; });
        int ret = zero ? 0 : bdrv_co_pwrite(c, (int64_t)off, (int64_t)n, buf.data(), 0);
        if (ret < 0) return ret;
        off += n;
        len -= n;
    }
    return 0;
}

// Preallocation on a file that is not local: the protocol's truncate makes
// the room (or refuses), with QEMU's messages: metadata only extends the
// file, falloc/full hand the mode to the protocol.
int coroutine_fn grow_remote(BdrvChild *c, PreallocMode prealloc, uint64_t len, Error **errp)
{
    bool meta = prealloc == PreallocMode::Metadata;
    ErrorPtr err;
    int ret = bdrv_co_truncate(c, int64_t(len), false, meta ? PreallocMode::Off : prealloc, &err);
    if (ret < 0) {
        error_propagate(errp, err.release());
        error_prepend(errp, meta ? "Could not resize image: "
                                 : "Could not resize image: Failed to resize underlying file: ");
    }
    return ret;
}

// A file that is not local (ssh://, nbd://): the image is built in memory (a
// memfd; its unwritten parts take no memory) and copied through the block
// layer, header cluster last.
int coroutine_fn write_image_remote(const char *filename, CreateParams *p, Error **errp)
{
    Qcow2Geometry g;
    Qcow2CreateLayout l;
    int ret = plan_image(p, &g, &l, errp);
    if (ret < 0) return ret;
    Fd fd{memfd_create("qcow2-create", MFD_CLOEXEC)};
    if (fd.fd < 0) {
        error_setg_errno(errp, errno, "Could not create a memory file");
        return -errno;
    }
    // The memfd gets the metadata; data (falloc/full) is the protocol's.
    PreallocMode data_prealloc = p->prealloc;
    if (p->prealloc != PreallocMode::Off) p->prealloc = PreallocMode::Metadata;
    ret = write_layout(fd.fd, p, g, l, errp);
    p->prealloc = data_prealloc;
    if (ret < 0) return ret;
    uint64_t len = (uint64_t)lseek(fd.fd, 0, SEEK_END);
    uint64_t head = std::min<uint64_t>(len, g.cluster_size());
    BdrvChild *c = bdrv_co_open_created_file(filename, errp);
    if (!c) return -EIO;
    if (p->prealloc != PreallocMode::Off) {
        ret = grow_remote(c, p->prealloc, len, errp);
        if (ret < 0) {
            bdrv_co_close_created_file(c);
            return ret;
        }
    }
    ret = upload_range(fd.fd, c, head, len - head);
    if (ret == 0) ret = upload_range(fd.fd, c, 0, head);
    if (ret == 0) ret = bdrv_co_flush(c->bs);
    bdrv_co_close_created_file(c);
    if (ret < 0) error_setg_errno(errp, -ret, "Could not write qcow2 header");
    return ret;
}

// Encryption and the external data file options, with QEMU's messages.
int parse_crypto_and_data_file(QDict *opts, CreateParams *p, Error **errp)
{
    // Encryption (qcow2-crypto.cc): as QEMU, the legacy "encryption" means
    // format aes when on, nothing when off, any other value a format name.
    int ret = qcow2_crypto_create_opts(opts, &p->hdr.crypt_method, &p->crypto, errp);
    if (ret < 0) return ret;
    const char *df = opts->get("data_file");
    bool df_raw = false;
    if (!parse_bool_opt(opts, "data_file_raw", &df_raw, errp)) return -EINVAL;
    if (df_raw && !df) {
        error_setg(errp, "data-file-raw requires data-file");
        return -EINVAL;
    }
    if (!df) return 0;
    if (p->hdr.version < 3) {
        error_setg(errp,
                   "External data files are only supported with compatibility level 1.1 "
                   "and above %s",
                   kUseV3);
        return -EINVAL;
    }
    p->data_file = df;
    p->hdr.incompatible_features |= QCOW2_INCOMPAT_DATA_FILE;
    qcow2_set_data_file_name(&p->hdr, p->data_file);
    if (df_raw) {
        if (!p->hdr.backing_file.empty()) {
            error_setg(errp, "Backing file and data-file-raw cannot be used at the same time");
            return -EINVAL;
        }
        p->hdr.autoclear_features |= QCOW2_AUTOCLEAR_DATA_FILE_RAW;
        // A raw data file is the guest disk: every cluster maps to it.
        if (p->prealloc == PreallocMode::Off) p->prealloc = PreallocMode::Metadata;
    }
    return 0;
}

// The data file: created with the virtual size, preallocated as asked (the
// image itself then holds metadata only).
int coroutine_fn create_data_file(const CreateParams &p, Error **errp)
{
    QDict o;
    o.set("size", std::to_string(p.hdr.size));
    if (p.prealloc == PreallocMode::Falloc || p.prealloc == PreallocMode::Full) {
        o.set("preallocation", prealloc_mode_name(p.prealloc));
    }
    return bdrv_co_create_file(p.data_file.c_str(), &o, errp);
}

}  // namespace

int coroutine_fn qcow2_co_create_opts(const char *filename, QDict *opts, Error **errp)
{
    QDict empty;
    if (!opts) opts = &empty;
    CreateParams p;
    int ret = parse_sizes(opts, &p, errp);
    if (ret == 0) ret = parse_features(opts, &p, errp);
    if (ret == 0) ret = parse_backing(opts, &p, errp);
    if (ret == 0) ret = parse_crypto_and_data_file(opts, &p, errp);
    if (ret < 0) return ret;
    // The secret is looked up and the keys derived before the file exists.
    if (p.hdr.crypt_method) {
        ret = qcow2_crypto_create_header(p.crypto, &p.crypto_hdr, errp);
        if (ret < 0) return ret;
    }
    if (!p.data_file.empty()) {
        ret = create_data_file(p, errp);
        if (ret < 0) return ret;
    }
    QDict file_opts;
    ret = bdrv_co_create_file(filename, &file_opts, errp);
    if (ret < 0) return ret;
    const BlockDriver *proto = bdrv_find_protocol(filename, nullptr);
    const char *name = proto ? proto->format_name : "file";
    if (strcmp(name, "file") && strcmp(name, "host_device") && strcmp(name, "host_cdrom")) {
        return write_image_remote(filename, &p, errp);
    }
    return write_image(filename, &p, errp);
}
