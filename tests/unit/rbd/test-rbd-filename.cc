// The rbd: filename syntax as QEMU 7.2 parses it (pool, namespace, image,
// snapshot, escapes, conf/id and other key=value pairs), the options
// checks, json: names in QEMU's member order and the object size rules.
#include <string>

#include "block/rbd/rbd-int.h"
#include "tests/unit/util/cmocka-wrap.h"

namespace {

std::string parse_err(const char *fn)
{
    QDict o;
    ErrorPtr err;
    rbd_parse_filename(fn, &o, &err);
    return err ? error_get_pretty(err.get()) : "";
}

void test_basic(void **)
{
    QDict o;
    ErrorPtr err;
    rbd_parse_filename("rbd:pool/img", &o, &err);
    assert_false(bool(err));
    assert_string_equal(o.get("pool"), "pool");
    assert_string_equal(o.get("image"), "img");
    assert_string_equal(o.get("namespace"), "");
    assert_null(o.get("snapshot"));
    assert_null(o.get("conf"));
    assert_null(o.get(kRbdKeypairsKey));
}

void test_full(void **)
{
    QDict o;
    ErrorPtr err;
    rbd_parse_filename("rbd:p/ns/im\\:g@sn:conf=/etc/c\\:x.conf:id=bob:rados_osd_op_timeout=5:a=b",
                       &o, &err);
    assert_false(bool(err));
    assert_string_equal(o.get("pool"), "p");
    assert_string_equal(o.get("namespace"), "ns");
    assert_string_equal(o.get("image"), "im:g");
    assert_string_equal(o.get("snapshot"), "sn");
    assert_string_equal(o.get("conf"), "/etc/c:x.conf");
    assert_string_equal(o.get("user"), "bob");
    assert_string_equal(o.get(kRbdKeypairsKey), "[\"rados_osd_op_timeout\", \"5\", \"a\", \"b\"]");

    RbdOptions r;
    assert_true(rbd_take_options(&o, &r, &err));
    assert_true(o.entries.empty());
    assert_int_equal(r.keypairs.size(), 2);
    assert_string_equal(r.keypairs[0].first.c_str(), "rados_osd_op_timeout");
    assert_string_equal(r.keypairs[1].second.c_str(), "b");
    assert_true(r.has_snapshot && r.has_conf && r.has_user && r.has_ns);
}

void test_errors(void **)
{
    assert_string_equal(parse_err("nbd:x").c_str(), "File name must start with 'rbd:'");
    assert_string_equal(parse_err("rbd:").c_str(), "Pool name is required");
    assert_string_equal(parse_err("rbd:pool").c_str(), "Pool name is required");
    assert_string_equal(parse_err("rbd:p/i:conf").c_str(), "conf option conf has no value");

    QDict o;
    o.set("image", "x");
    RbdOptions r;
    ErrorPtr err;
    assert_false(rbd_take_options(&o, &r, &err));
    assert_string_equal(error_get_pretty(err.get()), "Parameter 'pool' is missing");
    err.reset();
    QDict o2;
    o2.set("pool", "p");
    o2.set("image", "i");
    o2.set(kRbdKeypairsKey, "[\"odd\"]");
    assert_false(rbd_take_options(&o2, &r, &err));
}

void test_json_names(void **)
{
    QDict o;
    ErrorPtr err;
    rbd_parse_filename("rbd:rbd/t1@s1:conf=/c:id=admin", &o, &err);
    RbdOptions r;
    assert_true(rbd_take_options(&o, &r, &err));
    // QEMU 7.2 prints exactly this (qemu-img info).
    assert_string_equal(rbd_json_filename(r).c_str(),
                        "json:{\"pool\": \"rbd\", \"image\": \"t1\", \"conf\": \"/c\", "
                        "\"snapshot\": \"s1\", \"driver\": \"rbd\", \"namespace\": \"\", "
                        "\"user\": \"admin\"}");
    RbdOptions r2;
    QDict o2;
    o2.set("pool", "rbd");
    o2.set("image", "a\"b");
    assert_true(rbd_take_options(&o2, &r2, &err));
    assert_string_equal(rbd_json_object(r2).c_str(),
                        "{\"pool\": \"rbd\", \"image\": \"a\\\"b\", \"driver\": \"rbd\"}");
}

void test_object_size(void **)
{
    ErrorPtr err;
    assert_true(rbd_check_object_size(4096, &err));
    assert_true(rbd_check_object_size(1 << 22, &err));
    assert_false(rbd_check_object_size(1000, &err));
    assert_string_equal(error_get_pretty(err.get()), "obj size needs to be power of 2");
    err.reset();
    assert_false(rbd_check_object_size(1024, &err));
    assert_string_equal(error_get_pretty(err.get()), "obj size too small");
}

}  // namespace

int main()
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),       cmocka_unit_test(test_full),
        cmocka_unit_test(test_errors),      cmocka_unit_test(test_json_names),
        cmocka_unit_test(test_object_size),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
