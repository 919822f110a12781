// NBD server: fixed-newstyle option haggling (STARTTLS, LIST, INFO, GO,
// EXPORT_NAME, STRUCTURED_REPLY, LIST/SET_META_CONTEXT, ABORT).  Oldstyle is never
// offered.  Every option payload is bounded before it is read.
#include <cerrno>
#include <cstring>

#include "block/nbd/nbd-server-int.h"
#include "block/nbd/nbd-tls-int.h"

namespace {

constexpr uint32_t KNOWN_CLIENT_FLAGS = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES;

int coroutine_fn send_buf(NbdServerClient *c, const NbdBuf &b)
{
    return nbd_channel_write(&c->ch, b.data.data(), b.size());
}

int coroutine_fn send_rep(NbdServerClient *c, uint32_t opt, uint32_t type,
                          const NbdBuf *payload = nullptr)
{
    NbdBuf b;
    nbd_opt_reply_encode(opt, type, payload ? uint32_t(payload->size()) : 0, &b);
    if (payload) b.put_bytes(payload->data.data(), payload->size());
    return send_buf(c, b);
}

// Error replies carry a human-readable message, as QEMU's do.
int coroutine_fn send_rep_err(NbdServerClient *c, uint32_t opt, uint32_t type, const char *msg)
{
    NbdBuf p;
    p.put_string(msg);
    return send_rep(c, opt, type, &p);
}

int coroutine_fn send_info(NbdServerClient *c, uint32_t opt, uint16_t info, const NbdBuf &data)
{
    NbdBuf p;
    p.put_u16(info);
    p.put_bytes(data.data.data(), data.size());
    return send_rep(c, opt, NBD_REP_INFO, &p);
}

const NbdExportConfig &export_cfg(NbdServerClient *c) { return c->server->cfg; }

int coroutine_fn handle_list(NbdServerClient *c, uint32_t len)
{
    if (len != 0)
        return send_rep_err(c, NBD_OPT_LIST, NBD_REP_ERR_INVALID,
                            "OPT_LIST should not have length");
    NbdBuf p;
    p.put_u32(uint32_t(export_cfg(c).name.size()));
    p.put_string(export_cfg(c).name);
    p.put_string(export_cfg(c).description);
    int ret = send_rep(c, NBD_OPT_LIST, NBD_REP_SERVER, &p);
    return ret < 0 ? ret : send_rep(c, NBD_OPT_LIST, NBD_REP_ACK);
}

// Sends the INFO replies for an export; the caller sends the final ACK.
int coroutine_fn send_export_infos(NbdServerClient *c, uint32_t opt, const NbdInfoRequest &q)
{
    NbdServer *srv = c->server;
    bool want_name = false, want_desc = false;
    for (uint16_t i : q.infos) {
        want_name |= i == NBD_INFO_NAME;
        want_desc |= i == NBD_INFO_DESCRIPTION;
    }
    int ret = 0;
    if (want_name) {
        NbdBuf d;
        d.put_string(srv->cfg.name);
        ret = send_info(c, opt, NBD_INFO_NAME, d);
    }
    if (ret == 0 && want_desc && !srv->cfg.description.empty()) {
        NbdBuf d;
        d.put_string(srv->cfg.description);
        ret = send_info(c, opt, NBD_INFO_DESCRIPTION, d);
    }
    if (ret == 0) {
        NbdBuf d;
        d.put_u32(1);
        d.put_u32(4096);
        d.put_u32(NBD_MAX_BUFFER);
        ret = send_info(c, opt, NBD_INFO_BLOCK_SIZE, d);
    }
    if (ret == 0) {
        NbdBuf d;
        d.put_u64(srv->size);
        d.put_u16(srv->tx_flags);
        ret = send_info(c, opt, NBD_INFO_EXPORT, d);
    }
    return ret;
}

// Returns 1 when GO succeeded (enter transmission), 0 to keep haggling.
int coroutine_fn handle_info_go(NbdServerClient *c, uint32_t opt, const std::vector<uint8_t> &data)
{
    NbdInfoRequest q;
    if (!nbd_info_request_decode(data.data(), data.size(), &q)) {
        return send_rep_err(c, opt, NBD_REP_ERR_INVALID, "request data length does not match");
    }
    if (q.name != export_cfg(c).name) {
        char msg[NBD_MAX_STRING + 64];
        snprintf(msg, sizeof(msg), "export '%s' not present", q.name.c_str());
        return send_rep_err(c, opt, NBD_REP_ERR_UNKNOWN, msg);
    }
    int ret = send_export_infos(c, opt, q);
    if (ret == 0) ret = send_rep(c, opt, NBD_REP_ACK);
    if (ret < 0) return ret;
    return opt == NBD_OPT_GO ? 1 : 0;
}

int coroutine_fn handle_export_name(NbdServerClient *c, const std::vector<uint8_t> &data)
{
    std::string name((const char *)data.data(), data.size());
    if (name != export_cfg(c).name) return -EINVAL;  // the spec's only answer: hang up
    NbdBuf b;
    b.put_u64(c->server->size);
    b.put_u16(c->server->tx_flags);
    if (!c->no_zeroes) {
        static const uint8_t zeroes[124] = {};
        b.put_bytes(zeroes, sizeof(zeroes));
    }
    int ret = send_buf(c, b);
    return ret < 0 ? ret : 1;
}

int coroutine_fn send_meta_context(NbdServerClient *c, uint32_t opt, uint32_t id,
                                   const std::string &name)
{
    NbdBuf p;
    p.put_u32(id);
    p.put_string(name);
    return send_rep(c, opt, NBD_REP_META_CONTEXT, &p);
}

int coroutine_fn handle_meta(NbdServerClient *c, uint32_t opt, const std::vector<uint8_t> &data)
{
    NbdMetaRequest q;
    if (!c->structured) {
        return send_rep_err(c, opt, NBD_REP_ERR_INVALID,
                            "request not valid before structured replies");
    }
    if (!nbd_meta_request_decode(data.data(), data.size(), &q)) {
        return send_rep_err(c, opt, NBD_REP_ERR_INVALID, "request data length does not match");
    }
    if (q.export_name != export_cfg(c).name) {
        return send_rep_err(c, opt, NBD_REP_ERR_UNKNOWN, "export not present");
    }
    bool set = opt == NBD_OPT_SET_META_CONTEXT;
    const auto &bitmaps = export_cfg(c).bitmaps;
    const bool depth_exported = export_cfg(c).allocation_depth;
    const std::string prefix = NBD_META_DIRTY_BITMAP_PREFIX;
    bool match = false, depth = false;
    std::vector<bool> bms(bitmaps.size(), false);
    if (!set && q.queries.empty()) {
        match = true;
        depth = depth_exported;
        bms.assign(bitmaps.size(), true);
    }
    // Exact names select; a listing also takes the namespace ("base:",
    // "qemu:") or "qemu:dirty-bitmap:" alone for all of them.
    for (const std::string &s : q.queries) {
        match |= s == NBD_META_BASE_ALLOCATION || (!set && s == "base:");
        depth |= depth_exported && (s == NBD_META_ALLOCATION_DEPTH || (!set && s == "qemu:"));
        for (size_t i = 0; i < bitmaps.size(); i++) {
            bool all = !set && (s == "qemu:" || s == prefix);
            if (all || s == prefix + bitmaps[i].first) bms[i] = true;
        }
    }
    if (set) {
        c->base_allocation = match;
        c->allocation_depth = depth;
        c->bitmap_ctx = bms;
    }
    int ret = 0;
    if (match)
        ret = send_meta_context(c, opt, set ? NBD_META_ID_BASE_ALLOCATION : 0,
                                NBD_META_BASE_ALLOCATION);
    if (depth && ret >= 0) {
        ret = send_meta_context(c, opt, set ? NBD_META_ID_ALLOCATION_DEPTH : 0,
                                NBD_META_ALLOCATION_DEPTH);
    }
    for (size_t i = 0; i < bitmaps.size() && ret >= 0; i++) {
        if (!bms[i]) continue;
        ret = send_meta_context(c, opt, set ? NBD_META_ID_DIRTY_BITMAP + uint32_t(i) : 0,
                                prefix + bitmaps[i].first);
    }
    return ret < 0 ? ret : send_rep(c, opt, NBD_REP_ACK);
}

// Reads and discards an oversized option payload so haggling can go on.
int coroutine_fn drain(NbdServerClient *c, uint32_t len)
{
    uint8_t sink[4096];
    while (len > 0) {
        uint32_t n = len < sizeof(sink) ? len : uint32_t(sizeof(sink));
        int ret = nbd_channel_read(&c->ch, sink, n);
        if (ret < 0) return ret;
        len -= n;
    }
    return 0;
}

// NBD_OPT_STARTTLS, as qemu-nbd: refused by policy without --tls-creds,
// invalid once TLS is up; otherwise ACK and the TLS handshake, whose
// failure hangs up (its reason goes to the log).
int coroutine_fn handle_starttls(NbdServerClient *c, uint32_t len)
{
    const NbdExportConfig &cfg = export_cfg(c);
    bool required = cfg.tls_creds && !c->tls;
    if (len) {
        int ret = send_rep_err(c, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID,
                               "option 'starttls' has unexpected length");
        return required || ret < 0 ? -EINVAL : 0;  // a client that gets TLS wrong is dropped
    }
    if (!cfg.tls_creds)
        return send_rep_err(c, NBD_OPT_STARTTLS, NBD_REP_ERR_POLICY, "TLS not configured");
    if (c->tls)
        return send_rep_err(c, NBD_OPT_STARTTLS, NBD_REP_ERR_INVALID, "TLS already enabled");
    if (send_rep(c, NBD_OPT_STARTTLS, NBD_REP_ACK) < 0) return -EIO;
    c->plain_refusal.clear();  // it did start TLS after all
    ErrorPtr err;
    if (nbd_channel_starttls(&c->ch, cfg.tls_creds, nullptr,
                             cfg.tls_authz.empty() ? nullptr : cfg.tls_authz.c_str(),
                             TlsEndpoint::Server, &err) < 0) {
        c->tls_error = error_get_pretty(err.get());
        return -EIO;
    }
    c->tls = true;
    return 0;
}

// Before STARTTLS on a TLS server: the client may only start TLS.
int coroutine_fn refuse_before_tls(NbdServerClient *c, const NbdOption &o)
{
    if (c->plain_refusal.empty()) {
        // Logged if the client leaves without starting TLS (qemu-nbd says
        // nothing; an administrator wants to know who knocked in plaintext).
        c->plain_refusal = std::string("refused a client that sent option '") +
                           nbd_opt_name(o.option) + "' without TLS";
    }
    if (o.option == NBD_OPT_EXPORT_NAME) return -EINVAL;  // no way to answer: hang up
    char msg[64];
    snprintf(msg, sizeof(msg), "Option 0x%x not permitted before TLS", o.option);
    int ret = send_rep_err(c, o.option, NBD_REP_ERR_TLS_REQD, msg);
    return o.option == NBD_OPT_ABORT ? -ECONNRESET : ret;
}

// One option.  1: transmission; 0: continue; <0: hang up.
int coroutine_fn handle_option(NbdServerClient *c, const NbdOption &o, bool fixed)
{
    if (o.length > NBD_MAX_OPTION) {
        if (o.option == NBD_OPT_EXPORT_NAME || !fixed) return -EINVAL;
        int ret = drain(c, o.length);
        return ret < 0 ? ret : send_rep_err(c, o.option, NBD_REP_ERR_TOO_BIG, "option too long");
    }
    std::vector<uint8_t> data(o.length);
    int ret = nbd_channel_read(&c->ch, data.data(), data.size());
    if (ret < 0) return ret;
    if (export_cfg(c).tls_creds && !c->tls) {
        if (!fixed) return -EINVAL;  // TLS needs fixed newstyle
        if (o.option != NBD_OPT_STARTTLS) return refuse_before_tls(c, o);
    }
    if (o.option == NBD_OPT_EXPORT_NAME) return handle_export_name(c, data);
    if (!fixed) return -EINVAL;  // plain newstyle clients may only name an export
    switch (o.option) {
    case NBD_OPT_ABORT: send_rep(c, o.option, NBD_REP_ACK); return -ECONNRESET;
    case NBD_OPT_LIST: return handle_list(c, o.length);
    case NBD_OPT_INFO:
    case NBD_OPT_GO: return handle_info_go(c, o.option, data);
    case NBD_OPT_STRUCTURED_REPLY:
        if (o.length)
            return send_rep_err(c, o.option, NBD_REP_ERR_INVALID,
                                "OPT_STRUCTURED_REPLY should not have length");
        if (c->structured)
            return send_rep_err(c, o.option, NBD_REP_ERR_INVALID,
                                "structured reply already negotiated");
        c->structured = true;
        return send_rep(c, o.option, NBD_REP_ACK);
    case NBD_OPT_STARTTLS: return handle_starttls(c, o.length);
    case NBD_OPT_LIST_META_CONTEXT:
    case NBD_OPT_SET_META_CONTEXT: return handle_meta(c, o.option, data);
    default: return send_rep_err(c, o.option, NBD_REP_ERR_UNSUP, "Unsupported option");
    }
}

}  // namespace

int coroutine_fn nbd_server_negotiate(NbdServerClient *c)
{
    NbdBuf hello;
    hello.put_u64(NBD_INIT_MAGIC);
    hello.put_u64(NBD_OPTS_MAGIC);
    hello.put_u16(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    if (send_buf(c, hello) < 0) return -EIO;
    uint8_t cf[4];
    if (nbd_channel_read(&c->ch, cf, 4) < 0) return -EIO;
    uint32_t cflags = uint32_t(cf[0]) << 24 | uint32_t(cf[1]) << 16 | uint32_t(cf[2]) << 8 | cf[3];
    if (cflags & ~KNOWN_CLIENT_FLAGS) return -EINVAL;
    c->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;
    bool fixed = cflags & NBD_FLAG_C_FIXED_NEWSTYLE;
    // Bounded: a client that never picks an export cannot hold us forever.
    for (int i = 0; i < 4096; i++) {
        uint8_t hdr[NBD_OPT_HEADER_SIZE];
        NbdOption o;
        if (nbd_channel_read(&c->ch, hdr, sizeof(hdr)) < 0) {
            // Typically a client that refused our certificate; qemu-nbd's words.
            if (c->tls) {
                c->tls_error = "Failed to read opts magic: Cannot read from TLS channel: "
                               "Software caused connection abort";
            }
            return -EIO;
        }
        if (!nbd_option_decode(hdr, &o)) return -EINVAL;
        int ret = handle_option(c, o, fixed);
        if (ret < 0) return ret;
        if (ret == 1) return 0;
    }
    return -EINVAL;
}
