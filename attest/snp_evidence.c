#include "attest/snp_evidence.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* Fields of the ATTESTATION_REPORT structure (SEV-SNP firmware ABI, table "ATTESTATION_REPORT"),
 * in the order and under the names the attester's JSON uses. */
enum field_kind { U32, U64, BYTES, TCB, VERSION, SIGNATURE, CPUID };

struct field {
	const char *name;
	enum field_kind kind;
	size_t offset, len;
};

static const struct field report_fields[] = {
	{ "version", U32, 0x00, 4 },
	{ "guest_svn", U32, 0x04, 4 },
	{ "policy", U64, 0x08, 8 },
	{ "family_id", BYTES, 0x10, 16 },
	{ "image_id", BYTES, 0x20, 16 },
	{ "vmpl", U32, 0x30, 4 },
	{ "sig_algo", U32, 0x34, 4 },
	{ "current_tcb", TCB, 0x38, 8 },
	{ "plat_info", U64, 0x40, 8 },
	{ "key_info", U32, 0x48, 4 },
	{ "report_data", BYTES, 0x50, 64 },
	{ "measurement", BYTES, 0x90, 48 },
	{ "host_data", BYTES, 0xc0, 32 },
	{ "id_key_digest", BYTES, 0xe0, 48 },
	{ "author_key_digest", BYTES, 0x110, 48 },
	{ "report_id", BYTES, 0x140, 32 },
	{ "report_id_ma", BYTES, 0x160, 32 },
	{ "reported_tcb", TCB, 0x180, 8 },
	{ "cpuid_fam_id", CPUID, 0x188, 1 },
	{ "cpuid_mod_id", CPUID, 0x189, 1 },
	{ "cpuid_step", CPUID, 0x18a, 1 },
	{ "chip_id", BYTES, 0x1a0, 64 },
	{ "committed_tcb", TCB, 0x1e0, 8 },
	{ "current", VERSION, 0x1e8, 3 },
	{ "committed", VERSION, 0x1ec, 3 },
	{ "launch_tcb", TCB, 0x1f0, 8 },
	{ "signature", SIGNATURE, 0x2a0, 144 },
};

#define CPUID_FAMILY_TURIN 0x1a /* whose TCB_VERSION layout adds an FMC field */

static uint64_t get_le(const uint8_t *p, size_t len)
{
	uint64_t v = 0;
	for (size_t i = len; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

static cJSON *byte_array(const uint8_t *p, size_t len)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < len; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(p[i]));
	return a;
}

static cJSON *tcb_version(const uint8_t *p, int turin)
{
	cJSON *t = cJSON_CreateObject();
	if (turin) {
		cJSON_AddNumberToObject(t, "fmc", p[0]);
		cJSON_AddNumberToObject(t, "bootloader", p[1]);
		cJSON_AddNumberToObject(t, "tee", p[2]);
		cJSON_AddNumberToObject(t, "snp", p[3]);
	} else {
		cJSON_AddNullToObject(t, "fmc");
		cJSON_AddNumberToObject(t, "bootloader", p[0]);
		cJSON_AddNumberToObject(t, "tee", p[1]);
		cJSON_AddNumberToObject(t, "snp", p[6]);
	}
	cJSON_AddNumberToObject(t, "microcode", p[7]);
	return t;
}

static cJSON *field_value(const struct field *f, const uint8_t *report)
{
	const uint8_t *p = report + f->offset;
	uint32_t version = (uint32_t)get_le(report, 4);
	cJSON *v;
	switch (f->kind) {
	case U32:
	case U64:
		/* u64 fields carry flags well under 2^53, so a double holds them exactly */
		return cJSON_CreateNumber((double)get_le(p, f->len));
	case BYTES:
		return byte_array(p, f->len);
	case TCB:
		return tcb_version(p, version >= 3 && report[0x188] == CPUID_FAMILY_TURIN);
	case CPUID:
		/* absent before report version 3 */
		return version >= 3 ? cJSON_CreateNumber(p[0]) : cJSON_CreateNull();
	case VERSION:
		v = cJSON_CreateObject();
		cJSON_AddNumberToObject(v, "major", p[2]);
		cJSON_AddNumberToObject(v, "minor", p[1]);
		cJSON_AddNumberToObject(v, "build", p[0]);
		return v;
	case SIGNATURE:
		v = cJSON_CreateObject();
		cJSON_AddItemToObject(v, "r", byte_array(p, 72));
		cJSON_AddItemToObject(v, "s", byte_array(p + 72, 72));
		return v;
	}
	return NULL;
}

/* Certificate table GUIDs (GHCB spec, extended guest request), stored in the order they are
 * written (as uuid_parse gives them; AMD's tools and the sev crate read them so). */
static const struct {
	const char *name;
	uint8_t guid[16];
} cert_types[] = {
	{ "ARK", { 0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae } },
	{ "ASK", { 0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82 } },
	{ "VCEK", { 0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd } },
	{ "VLEK", { 0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1 } },
	{ "CRL", { 0x92, 0xf8, 0x1b, 0xc3, 0x58, 0x11, 0x4d, 0x3d, 0x97, 0xff, 0xd1, 0x9f, 0x88, 0xdc, 0x67, 0xea } },
};

#define CERT_ENTRY_LEN 24 /* guid[16], offset u32, length u32 */

/* The cert_chain array, or NULL with err set when the table is malformed. Entries of an
 * unknown type are left out: the verifier only looks for VCEK/VLEK and the AMD chain. */
static cJSON *cert_chain(const uint8_t *t, size_t len, char *err, size_t errlen)
{
	static const uint8_t zero[16];
	cJSON *chain = cJSON_CreateArray();
	for (size_t off = 0;; off += CERT_ENTRY_LEN) {
		if (off + CERT_ENTRY_LEN > len) {
			snprintf(err, errlen, "certificate table has no terminating entry");
			cJSON_Delete(chain);
			return NULL;
		}
		const uint8_t *e = t + off;
		if (!memcmp(e, zero, 16))
			return chain;
		uint32_t data_off = (uint32_t)get_le(e + 16, 4), data_len = (uint32_t)get_le(e + 20, 4);
		if (data_off > len || data_len > len - data_off) {
			snprintf(err, errlen, "certificate table entry points outside the table");
			cJSON_Delete(chain);
			return NULL;
		}
		for (size_t i = 0; i < sizeof(cert_types) / sizeof(cert_types[0]); i++) {
			if (memcmp(e, cert_types[i].guid, 16))
				continue;
			cJSON *entry = cJSON_CreateObject();
			cJSON_AddStringToObject(entry, "cert_type", cert_types[i].name);
			cJSON_AddItemToObject(entry, "data", byte_array(t + data_off, data_len));
			cJSON_AddItemToArray(chain, entry);
		}
	}
}

char *snp_evidence_json(const uint8_t *report, size_t len, const uint8_t *certs, size_t certs_len,
			char *err, size_t errlen)
{
	if (len != SNP_REPORT_LEN) {
		snprintf(err, errlen, "SNP report of %zu bytes, expected %d", len, SNP_REPORT_LEN);
		return NULL;
	}
	cJSON *chain = NULL;
	if (certs_len) {
		chain = cert_chain(certs, certs_len, err, errlen);
		if (!chain)
			return NULL;
	}
	cJSON *ev = cJSON_CreateObject();
	cJSON *r = cJSON_AddObjectToObject(ev, "attestation_report");
	for (size_t i = 0; i < sizeof(report_fields) / sizeof(report_fields[0]); i++)
		cJSON_AddItemToObject(r, report_fields[i].name, field_value(&report_fields[i], report));
	cJSON_AddItemToObject(ev, "cert_chain", chain ? chain : cJSON_CreateNull());
	char *text = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	if (!text)
		snprintf(err, errlen, "out of memory");
	return text;
}
