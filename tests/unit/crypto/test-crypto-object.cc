// --object parsing as qemu-nbd 7.2 answers it: types, required and unknown
// properties, duplicate ids, endpoints, missing credential files, and the
// checks tools make when they look credentials up.
#include <cstdio>
#include <cstring>
#include <string>

#include "crypto/crypto.h"
#include "tests/unit/util/cmocka-wrap.h"

namespace {

std::string add_error(const char *spec)
{
    bool help = false;
    ErrorPtr err;
    if (user_creatable_add(spec, &help, &err)) return help ? "help" : "ok";
    return error_get_pretty(err.err);
}

void test_parse_errors(void **)
{
    static const struct {
        const char *spec, *msg;
    } cases[] = {
        {"foo,id=a", "Parameter 'qom-type' does not accept value 'foo'"},
        {"authz-list-file,id=a,filename=/x",
         "Parameter 'qom-type' does not accept value 'authz-list-file'"},
        {"tls-creds-x509,endpoint=server", "Parameter 'id' is missing"},
        {"tls-creds-x509,id=a,endpoint=bogus,dir=/x",
         "Parameter 'endpoint' does not accept value 'bogus'"},
        {"tls-creds-x509,id=a,dir=/x,bogus=1", "Parameter 'bogus' is unexpected"},
        {"tls-creds-x509,id=a,endpoint=server,dir=/nonexistent",
         "Unable to access credentials /nonexistent/ca-cert.pem: No such file or directory"},
        {"tls-creds-psk,id=a,endpoint=server,dir=/nonexistent",
         "Unable to access credentials /nonexistent/keys.psk: No such file or directory"},
        {"tls-creds-x509,id=a,verify-peer=maybe,dir=/x",
         "Parameter 'verify-peer' expects 'on' or 'off'"},
        {"authz-simple,id=z1,identity=CN=x", "ok"},
        {"authz-simple,id=z1,identity=CN=y",
         "attempt to add duplicate property 'z1' to object (type 'container')"},
        {"authz-simple,help", "help"},
    };
    for (const auto &c : cases) {
        std::string got = add_error(c.spec);
        if (got != c.msg) fail_msg("%s: got \"%s\", want \"%s\"", c.spec, got.c_str(), c.msg);
    }
}

void test_lookup(void **)
{
    ErrorPtr e1, e2;
    assert_null(tls_creds_find("nope", TlsEndpoint::Client, &e1));
    assert_string_equal(error_get_pretty(e1.err), "No TLS credentials with id 'nope'");
    bool help;
    assert_true(user_creatable_add("authz-simple,id=z2,identity=x", &help, nullptr));
    assert_null(tls_creds_find("z2", TlsEndpoint::Server, &e2));
    assert_string_equal(error_get_pretty(e2.err), "Object with id 'z2' is not TLS credentials");
    ErrorPtr e3;
    assert_true(authz_is_allowed_by_id("z2", "x", &e3));
    assert_false(authz_is_allowed_by_id("z2", "y", &e3));
    assert_false(authz_is_allowed_by_id("missing", "x", &e3));
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_lookup),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
