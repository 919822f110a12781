// NBD wire encode/decode; see nbd-proto.h for the contract.
#include "block/nbd/nbd-proto.h"

#include <cerrno>
#include <cstring>

uint32_t nbd_errno_to_wire(int err)
{
    switch (err) {
    case 0: return NBD_SUCCESS;
    case EPERM:
    case EROFS: return NBD_EPERM;
    case EIO: return NBD_EIO;
    case ENOMEM: return NBD_ENOMEM;
    case EINVAL: return NBD_EINVAL;
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return NBD_ENOSPC;
    case EOVERFLOW: return NBD_EOVERFLOW;
    case ENOTSUP: return NBD_ENOTSUP;
    case ESHUTDOWN: return NBD_ESHUTDOWN;
    default: return NBD_EIO;
    }
}

int nbd_wire_to_errno(uint32_t wire)
{
    switch (wire) {
    case NBD_SUCCESS: return 0;
    case NBD_EPERM: return EPERM;
    case NBD_EIO: return EIO;
    case NBD_ENOMEM: return ENOMEM;
    case NBD_ENOSPC: return ENOSPC;
    case NBD_EOVERFLOW: return EOVERFLOW;
    case NBD_ENOTSUP: return ENOTSUP;
    case NBD_ESHUTDOWN: return ESHUTDOWN;
    case NBD_EINVAL:
    default: return EINVAL;
    }
}

// ---- byte buffers -------------------------------------------------------------

void NbdBuf::put_u16(uint16_t v)
{
    put_u8(uint8_t(v >> 8));
    put_u8(uint8_t(v));
}

void NbdBuf::put_u32(uint32_t v)
{
    put_u16(uint16_t(v >> 16));
    put_u16(uint16_t(v));
}

void NbdBuf::put_u64(uint64_t v)
{
    put_u32(uint32_t(v >> 32));
    put_u32(uint32_t(v));
}

void NbdBuf::put_bytes(const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    data.insert(data.end(), b, b + n);
}

static uint64_t load_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void store_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = uint8_t(v);
        v >>= 8;
    }
}

bool NbdCursor::get_u16(uint16_t *v)
{
    if (left < 2) return false;
    *v = uint16_t(load_be(p, 2));
    p += 2;
    left -= 2;
    return true;
}

bool NbdCursor::get_u32(uint32_t *v)
{
    if (left < 4) return false;
    *v = uint32_t(load_be(p, 4));
    p += 4;
    left -= 4;
    return true;
}

bool NbdCursor::get_u64(uint64_t *v)
{
    if (left < 8) return false;
    *v = load_be(p, 8);
    p += 8;
    left -= 8;
    return true;
}

bool NbdCursor::get_bytes(void *out, size_t n)
{
    if (left < n) return false;
    memcpy(out, p, n);
    p += n;
    left -= n;
    return true;
}

bool NbdCursor::get_string(size_t len, size_t max, std::string *out)
{
    if (len > max || len > left) return false;
    out->assign((const char *)p, len);
    p += len;
    left -= len;
    return true;
}

bool NbdCursor::advance(size_t n)
{
    if (left < n) return false;
    p += n;
    left -= n;
    return true;
}

// ---- requests and replies ------------------------------------------------------

void nbd_request_encode(const NbdRequest &r, uint8_t out[NBD_REQUEST_SIZE])
{
    store_be(out, NBD_REQUEST_MAGIC, 4);
    store_be(out + 4, r.flags, 2);
    store_be(out + 6, r.type, 2);
    store_be(out + 8, r.cookie, 8);
    store_be(out + 16, r.offset, 8);
    store_be(out + 24, r.len, 4);
}

bool nbd_request_decode(const uint8_t in[NBD_REQUEST_SIZE], NbdRequest *r)
{
    if (load_be(in, 4) != NBD_REQUEST_MAGIC) return false;
    r->flags = uint16_t(load_be(in + 4, 2));
    r->type = uint16_t(load_be(in + 6, 2));
    r->cookie = load_be(in + 8, 8);
    r->offset = load_be(in + 16, 8);
    r->len = uint32_t(load_be(in + 24, 4));
    return true;
}

size_t nbd_reply_header_size(uint32_t magic)
{
    if (magic == NBD_SIMPLE_REPLY_MAGIC) return NBD_SIMPLE_REPLY_SIZE;
    if (magic == NBD_STRUCTURED_REPLY_MAGIC) return NBD_STRUCTURED_REPLY_SIZE;
    return 0;
}

void nbd_simple_reply_encode(uint64_t cookie, uint32_t error, uint8_t out[NBD_SIMPLE_REPLY_SIZE])
{
    store_be(out, NBD_SIMPLE_REPLY_MAGIC, 4);
    store_be(out + 4, error, 4);
    store_be(out + 8, cookie, 8);
}

void nbd_structured_reply_encode(uint64_t cookie, uint16_t flags, uint16_t type, uint32_t length,
                                 uint8_t out[NBD_STRUCTURED_REPLY_SIZE])
{
    store_be(out, NBD_STRUCTURED_REPLY_MAGIC, 4);
    store_be(out + 4, flags, 2);
    store_be(out + 6, type, 2);
    store_be(out + 8, cookie, 8);
    store_be(out + 16, length, 4);
}

bool nbd_reply_decode(const uint8_t *in, size_t len, NbdReply *r)
{
    if (len < 4) return false;
    uint32_t magic = uint32_t(load_be(in, 4));
    if (nbd_reply_header_size(magic) != len) return false;
    *r = NbdReply();
    if (magic == NBD_SIMPLE_REPLY_MAGIC) {
        r->error = uint32_t(load_be(in + 4, 4));
        r->cookie = load_be(in + 8, 8);
        return true;
    }
    r->structured = true;
    r->flags = uint16_t(load_be(in + 4, 2));
    r->type = uint16_t(load_be(in + 6, 2));
    r->cookie = load_be(in + 8, 8);
    r->length = uint32_t(load_be(in + 16, 4));
    return true;
}

// The payload length each chunk type implies; a mismatch means the stream is
// out of sync and nothing after it can be trusted.
int nbd_chunk_check(const NbdReply &r, bool is_read, bool is_block_status)
{
    switch (r.type) {
    case NBD_REPLY_TYPE_NONE: return (r.flags & NBD_REPLY_FLAG_DONE) && r.length == 0 ? 0 : -EIO;
    case NBD_REPLY_TYPE_OFFSET_DATA:
        return is_read && r.length > 8 && r.length - 8 <= NBD_MAX_BUFFER ? 0 : -EIO;
    case NBD_REPLY_TYPE_OFFSET_HOLE: return is_read && r.length == 12 ? 0 : -EIO;
    case NBD_REPLY_TYPE_BLOCK_STATUS:
        return is_block_status && r.length >= 12 && (r.length - 4) % 8 == 0 &&
                       r.length <= 4 + 8 * 1024 * 1024
                   ? 0
                   : -EIO;
    case NBD_REPLY_TYPE_ERROR: return r.length >= 6 && r.length <= 6 + NBD_MAX_STRING ? 0 : -EIO;
    case NBD_REPLY_TYPE_ERROR_OFFSET:
        return r.length >= 14 && r.length <= 14 + NBD_MAX_STRING ? 0 : -EIO;
    default:
        // Unknown error types may carry a message the client can skip; other
        // unknown types are a protocol violation.
        if ((r.type & NBD_REPLY_TYPE_ERR_FLAG) && r.length >= 6 &&
            r.length <= 6 + NBD_MAX_STRING + 64) {
            return 0;
        }
        return -EIO;
    }
}

bool nbd_range_inside(uint64_t off, uint64_t len, uint64_t req_off, uint64_t req_len)
{
    return off >= req_off && len <= req_len && off - req_off <= req_len - len;
}

bool nbd_error_chunk_decode(const uint8_t *p, size_t len, bool with_offset, NbdErrorChunk *out)
{
    NbdCursor c(p, len);
    uint16_t msglen;
    *out = NbdErrorChunk();
    if (!c.get_u32(&out->error) || !c.get_u16(&msglen) ||
        !c.get_string(msglen, NBD_MAX_STRING, &out->message)) {
        return false;
    }
    if (with_offset) {
        out->has_offset = true;
        if (!c.get_u64(&out->offset)) return false;
    }
    return c.left == 0;
}

// ---- options -------------------------------------------------------------------

void nbd_option_encode(uint32_t option, uint32_t length, NbdBuf *out)
{
    out->put_u64(NBD_OPTS_MAGIC);
    out->put_u32(option);
    out->put_u32(length);
}

bool nbd_option_decode(const uint8_t in[NBD_OPT_HEADER_SIZE], NbdOption *o)
{
    if (load_be(in, 8) != NBD_OPTS_MAGIC) return false;
    o->option = uint32_t(load_be(in + 8, 4));
    o->length = uint32_t(load_be(in + 12, 4));
    return true;
}

void nbd_opt_reply_encode(uint32_t option, uint32_t type, uint32_t length, NbdBuf *out)
{
    out->put_u64(NBD_REP_MAGIC);
    out->put_u32(option);
    out->put_u32(type);
    out->put_u32(length);
}

bool nbd_opt_reply_decode(const uint8_t in[NBD_OPT_REPLY_HEADER_SIZE], NbdOptReply *r)
{
    if (load_be(in, 8) != NBD_REP_MAGIC) return false;
    r->option = uint32_t(load_be(in + 8, 4));
    r->type = uint32_t(load_be(in + 12, 4));
    r->length = uint32_t(load_be(in + 16, 4));
    return true;
}

void nbd_info_request_encode(const NbdInfoRequest &q, NbdBuf *out)
{
    out->put_u32(uint32_t(q.name.size()));
    out->put_string(q.name);
    out->put_u16(uint16_t(q.infos.size()));
    for (uint16_t i : q.infos)
        out->put_u16(i);
}

bool nbd_info_request_decode(const uint8_t *p, size_t len, NbdInfoRequest *q)
{
    NbdCursor c(p, len);
    uint32_t namelen;
    uint16_t n;
    if (!c.get_u32(&namelen) || !c.get_string(namelen, NBD_MAX_STRING, &q->name) ||
        !c.get_u16(&n) || c.left != size_t(n) * 2) {
        return false;
    }
    q->infos.clear();
    for (uint16_t i = 0; i < n; i++) {
        uint16_t t = 0;
        c.get_u16(&t);
        q->infos.push_back(t);
    }
    return true;
}

void nbd_meta_request_encode(const NbdMetaRequest &q, NbdBuf *out)
{
    out->put_u32(uint32_t(q.export_name.size()));
    out->put_string(q.export_name);
    out->put_u32(uint32_t(q.queries.size()));
    for (const std::string &s : q.queries) {
        out->put_u32(uint32_t(s.size()));
        out->put_string(s);
    }
}

bool nbd_meta_request_decode(const uint8_t *p, size_t len, NbdMetaRequest *q)
{
    NbdCursor c(p, len);
    uint32_t namelen, n;
    if (!c.get_u32(&namelen) || !c.get_string(namelen, NBD_MAX_STRING, &q->export_name) ||
        !c.get_u32(&n)) {
        return false;
    }
    q->queries.clear();
    for (uint32_t i = 0; i < n; i++) {
        uint32_t qlen;
        std::string s;
        if (!c.get_u32(&qlen) || !c.get_string(qlen, NBD_MAX_STRING, &s)) return false;
        q->queries.push_back(std::move(s));
    }
    return c.left == 0;
}

bool nbd_info_reply_decode(const uint8_t *p, size_t len, NbdExportInfo *info)
{
    NbdCursor c(p, len);
    uint16_t type;
    if (!c.get_u16(&type)) return false;
    switch (type) {
    case NBD_INFO_EXPORT: return c.left == 10 && c.get_u64(&info->size) && c.get_u16(&info->flags);
    case NBD_INFO_NAME: return c.get_string(c.left, NBD_MAX_STRING, &info->name);
    case NBD_INFO_DESCRIPTION: return c.get_string(c.left, NBD_MAX_STRING, &info->description);
    case NBD_INFO_BLOCK_SIZE:
        return c.left == 12 && c.get_u32(&info->min_block) && c.get_u32(&info->opt_block) &&
               c.get_u32(&info->max_block);
    default: return true;
    }
}

static bool is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

bool nbd_block_sizes_valid(const NbdExportInfo &info)
{
    return is_pow2(info.min_block) && info.min_block <= 64 * 1024 && is_pow2(info.opt_block) &&
           info.opt_block >= info.min_block && info.max_block >= info.min_block &&
           info.max_block % info.min_block == 0;
}

const char *nbd_cmd_name(uint16_t cmd)
{
    static const char *const names[] = {"read", "write", "disconnect",   "flush",
                                        "trim", "cache", "write zeroes", "block status"};
    return cmd < sizeof(names) / sizeof(names[0]) ? names[cmd] : "<unknown>";
}

const char *nbd_opt_name(uint32_t opt)
{
    static const char *const names[] = {"<unknown>",
                                        "export name",
                                        "abort",
                                        "list",
                                        "peek export",
                                        "starttls",
                                        "info",
                                        "go",
                                        "structured reply",
                                        "list meta context",
                                        "set meta context"};
    return opt < sizeof(names) / sizeof(names[0]) ? names[opt] : "<unknown>";
}

const char *nbd_rep_name(uint32_t rep)
{
    switch (rep) {
    case NBD_REP_ACK: return "ack";
    case NBD_REP_SERVER: return "server";
    case NBD_REP_INFO: return "info";
    case NBD_REP_META_CONTEXT: return "meta context";
    case NBD_REP_ERR_UNSUP: return "unsupported";
    case NBD_REP_ERR_POLICY: return "denied by policy";
    case NBD_REP_ERR_INVALID: return "invalid";
    case NBD_REP_ERR_PLATFORM: return "platform lacks support";
    case NBD_REP_ERR_TLS_REQD: return "TLS required";
    case NBD_REP_ERR_UNKNOWN: return "export unknown";
    case NBD_REP_ERR_SHUTDOWN: return "server shutting down";
    case NBD_REP_ERR_BLOCK_SIZE_REQD: return "block size required";
    case NBD_REP_ERR_TOO_BIG: return "option too big";
    default: return "<unknown>";
    }
}
