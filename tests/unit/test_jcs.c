/* RFC 8785 canonical JSON: the RFC's own examples and Trustee's runtime-data vector. */
#include "attest/jcs.h"
#include "tests/unit/test.h"

#include <math.h>
#include <stdlib.h>

static int canonical_is(const char *json, const char *expected)
{
	cJSON *v = cJSON_Parse(json);
	char *out = v ? jcs_serialize(v) : NULL;
	int ok = out && !strcmp(out, expected);
	if (!ok)
		fprintf(stderr, "  %s\n  -> %s\n  expected %s\n", json, out ? out : "(null)", expected);
	free(out);
	cJSON_Delete(v);
	return ok;
}

TEST(rfc8785_sample_structure)
{
	/* RFC 8785 §3.2.2 input and §3.2.4 output. */
	CHECK(canonical_is(
		"{\n  \"numbers\": [333333333.33333329, 1E30, 4.50,\n"
		"              2e-3, 0.000000000000000000000000001],\n"
		"  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
		"  \"literals\": [null, true, false]\n}",
		"{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
		"\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}"));
}

TEST(rfc8785_property_sorting)
{
	/* RFC 8785 §3.2.3: sorted by UTF-16 code units, so the emoji's surrogate pair (D83D)
	 * sorts before U+FB33 although its code point is larger. */
	CHECK(canonical_is(
		"{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\","
		"\"\\ufb33\":\"Hebrew Letter Dalet With Dagesh\",\"1\":\"One\","
		"\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\","
		"\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}",
		"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
		"\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\","
		"\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\",\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}"));
	/* Nested objects are sorted too; arrays keep their order. */
	CHECK(canonical_is("{\"b\":[3,1,{\"z\":1,\"y\":2}],\"a\":{}}",
			   "{\"a\":{},\"b\":[3,1,{\"y\":2,\"z\":1}]}"));
}

static int number_is(const char *bits_hex, const char *expected)
{
	uint8_t be[8];
	if (test_unhex(bits_hex, be, 8) < 0)
		return 0;
	uint64_t bits = 0;
	for (int i = 0; i < 8; i++)
		bits = bits << 8 | be[i];
	double d;
	memcpy(&d, &bits, sizeof(d));
	cJSON *v = cJSON_CreateNumber(d);
	char *out = jcs_serialize(v);
	int ok = expected ? out && !strcmp(out, expected) : out == NULL;
	if (!ok)
		fprintf(stderr, "  %s -> %s, expected %s\n", bits_hex, out ? out : "(null)",
			expected ? expected : "(null)");
	free(out);
	cJSON_Delete(v);
	return ok;
}

TEST(rfc8785_appendix_b_numbers)
{
	CHECK(number_is("0000000000000000", "0"));
	CHECK(number_is("8000000000000000", "0"));
	CHECK(number_is("0000000000000001", "5e-324"));
	CHECK(number_is("8000000000000001", "-5e-324"));
	CHECK(number_is("7fefffffffffffff", "1.7976931348623157e+308"));
	CHECK(number_is("ffefffffffffffff", "-1.7976931348623157e+308"));
	CHECK(number_is("4340000000000000", "9007199254740992"));
	CHECK(number_is("c340000000000000", "-9007199254740992"));
	CHECK(number_is("4430000000000000", "295147905179352830000"));
	CHECK(number_is("7fffffffffffffff", NULL)); /* NaN */
	CHECK(number_is("7ff0000000000000", NULL)); /* Infinity */
	CHECK(number_is("44b52d02c7e14af5", "9.999999999999997e+22"));
	CHECK(number_is("44b52d02c7e14af6", "1e+23"));
	CHECK(number_is("44b52d02c7e14af7", "1.0000000000000001e+23"));
	CHECK(number_is("444b1ae4d6e2ef4e", "999999999999999700000"));
	CHECK(number_is("444b1ae4d6e2ef4f", "999999999999999900000"));
	CHECK(number_is("444b1ae4d6e2ef50", "1e+21"));
	CHECK(number_is("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"));
	CHECK(number_is("3eb0c6f7a0b5ed8d", "0.000001"));
	CHECK(number_is("41b3de4355555553", "333333333.3333332"));
	CHECK(number_is("41b3de4355555554", "333333333.33333325"));
	CHECK(number_is("41b3de4355555555", "333333333.3333333"));
	CHECK(number_is("41b3de4355555556", "333333333.3333334"));
	CHECK(number_is("41b3de4355555557", "333333333.33333343"));
	CHECK(number_is("becbf647612f3696", "-0.0000033333333333333333"));
	CHECK(number_is("43143ff3c1cb0959", "1424953923781206.2"));
}

TEST(integers_and_literals)
{
	CHECK(canonical_is("[1,-1,10,100,1.0,1e2,123456789,-0.0,0.5]",
			   "[1,-1,10,100,1,100,123456789,0,0.5]"));
	CHECK(canonical_is("\"\\u0001\\u001f\\u007f\"", "\"\\u0001\\u001f\x7f\""));
	CHECK(canonical_is("true", "true"));
}

TEST(trustee_runtime_data_vector)
{
	/* Trustee attestation-service src/lib.rs: structured runtime data hashed with sha384. */
	CHECK(canonical_is("{\"b\":1,\"a\":\"test\",\"c\":{\"d\":\"e\"}}", "{\"a\":\"test\",\"b\":1,\"c\":{\"d\":\"e\"}}"));
	cJSON *v = cJSON_Parse("{\"b\":1,\"a\":\"test\",\"c\":{\"d\":\"e\"}}");
	uint8_t digest[48], expected[48];
	CHECK(test_unhex("e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c"
			 "4597480a186427c813ca941da78870c3", expected, 48) == 0);
	CHECK(jcs_sha384(v, digest) == 0);
	CHECK_MEM(digest, expected, 48);
	cJSON_Delete(v);
}

TEST(unrepresentable_values_refused)
{
	cJSON *dup = cJSON_Parse("{\"a\":1,\"a\":2}");
	CHECK(dup != NULL);
	CHECK(jcs_serialize(dup) == NULL);
	cJSON_Delete(dup);
	cJSON *bad = cJSON_CreateObject();
	cJSON_AddStringToObject(bad, "k", "\xff\xfe");
	CHECK(jcs_serialize(bad) == NULL);
	uint8_t digest[48];
	CHECK(jcs_sha384(bad, digest) == -1);
	cJSON_Delete(bad);
	cJSON *raw = cJSON_CreateRaw("{}");
	CHECK(jcs_serialize(raw) == NULL);
	cJSON_Delete(raw);
	cJSON *nan = cJSON_CreateArray();
	cJSON_AddItemToArray(nan, cJSON_CreateNumber(NAN));
	CHECK(jcs_serialize(nan) == NULL);
	cJSON_Delete(nan);
}

int main(void)
{
	TEST_BEGIN("jcs");
	RUN(rfc8785_sample_structure);
	RUN(rfc8785_property_sorting);
	RUN(rfc8785_appendix_b_numbers);
	RUN(integers_and_literals);
	RUN(trustee_runtime_data_vector);
	RUN(unrepresentable_values_refused);
	TEST_END();
}
