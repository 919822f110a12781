// The `secret` object (QEMU 7.2's secret type): a passphrase or key given
// inline (data=) or read from a file (file=), raw or base64 (format=).
// Block drivers look secrets up by id for LUKS passphrases and qcow AES keys.
#include <glib.h>

#include <cstring>

#include "crypto/crypto-int.h"

namespace {

bool base64_decode(const std::string &in, std::vector<uint8_t> *out, Error **errp)
{
    // QEMU's qbase64_decode refuses anything outside the base64 alphabet.
    for (char c : in) {
        if (!g_ascii_isalnum(c) && c != '+' && c != '/' && c != '=' && c != '\n') {
            error_setg(errp, "Base64 data contains invalid characters");
            return false;
        }
    }
    gsize len = 0;
    guchar *buf = g_base64_decode(in.c_str(), &len);
    out->assign(buf, buf + len);
    g_free(buf);
    return true;
}

}  // namespace

std::unique_ptr<Object> secret_object_new(QDict &o, Error **errp)
{
    const char *data = o.get("data");
    const char *file = o.get("file");
    const char *format = o.get("format");
    bool base64 = false;
    if (format) {
        if (!strcmp(format, "base64")) {
            base64 = true;
        } else if (strcmp(format, "raw")) {
            error_setg(errp, "Parameter 'format' does not accept value '%s'", format);
            return nullptr;
        }
    }
    if (o.get("keyid") || o.get("iv")) {
        const char *keyid = o.get("keyid");
        if (keyid && !object_find(keyid)) {
            error_setg(errp, "No secret with id '%s'", keyid);
            return nullptr;
        }
        error_setg(errp, "Encrypted secrets (keyid/iv) are not supported by qemu-lite");
        return nullptr;
    }
    if (data && file) {
        error_setg(errp, "'file' and 'data' are mutually exclusive");
        return nullptr;
    }
    if (!data && !file) {
        error_setg(errp, "Either 'file' or 'data' must be provided");
        return nullptr;
    }
    std::string raw;
    if (file) {
        gchar *contents = nullptr;
        gsize len = 0;
        GError *gerr = nullptr;
        if (!g_file_get_contents(file, &contents, &len, &gerr)) {
            error_setg(errp, "Unable to read %s: %s", file, gerr->message);
            g_error_free(gerr);
            return nullptr;
        }
        raw.assign(contents, len);
        g_free(contents);
    } else {
        raw = data;
    }
    auto s = std::make_unique<Secret>();
    if (base64) {
        if (!base64_decode(raw, &s->value, errp)) return nullptr;
    } else {
        s->value.assign(raw.begin(), raw.end());
    }
    return s;
}

bool qcrypto_secret_lookup(const char *id, std::vector<uint8_t> *out, Error **errp)
{
    Object *obj = object_find(id);
    if (!obj) {
        error_setg(errp, "No secret with id '%s'", id);
        return false;
    }
    Secret *s = dynamic_cast<Secret *>(obj);
    if (!s) {
        error_setg(errp, "Object '%s' is not a secret", id);
        return false;
    }
    *out = s->value;
    return true;
}

bool qcrypto_secret_lookup_as_utf8(const char *id, std::string *out, Error **errp)
{
    std::vector<uint8_t> v;
    if (!qcrypto_secret_lookup(id, &v, errp)) return false;
    if (!g_utf8_validate((const char *)v.data(), (gssize)v.size(), nullptr)) {
        error_setg(errp, "Data from secret %s is not valid UTF-8", id);
        return false;
    }
    out->assign(v.begin(), v.end());
    return true;
}
