/*
 * configfs-tsm reports (attest/snp_evidence.c, tsm.c): the SEV-SNP ATTESTATION_REPORT and the
 * certificate table of an extended report, as the kernel's outblob and auxblob hand them over,
 * turned into the evidence JSON Trustee reads; and the provider name mapping. Input: a flags
 * byte (bit 0: a report of the right size from the next 1184 bytes, else a report of the size
 * the next 16-bit word says), the report, then a provider name (a piece) and the certificate
 * table (the rest; none when empty). Checks: what comes out is JSON with every report field and
 * a cert_chain array (or null without a table); a refusal says why.
 */
#include "attest/snp_evidence.h"
#include "attest/tsm.h"
#include "fuzz/fuzz.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t flags = fuzz_u8(&in);
	size_t report_len;
	const uint8_t *report = flags & 1 ? fuzz_bytes(&in, SNP_REPORT_LEN, &report_len)
					  : fuzz_piece(&in, &report_len);
	size_t provider_len, certs_len;
	const uint8_t *provider = fuzz_piece(&in, &provider_len);
	const uint8_t *certs = fuzz_bytes(&in, in.len, &certs_len);

	char name[256];
	snprintf(name, sizeof(name), "%.*s", (int)(provider_len < 255 ? provider_len : 255), provider);
	const char *tee = tsm_provider_tee(name);
	if (tee && strcmp(tee, "tdx") && strcmp(tee, "snp") && strcmp(tee, "cca"))
		fuzz_fail("an unknown TEE name");

	char err[256] = "";
	char *json = snp_evidence_json(report, report_len, certs_len ? certs : NULL, certs_len, err,
				       sizeof(err));
	if (!json) {
		if (!err[0])
			fuzz_fail("a refusal without a reason");
		return 0;
	}
	if (report_len != SNP_REPORT_LEN)
		fuzz_fail("a report of the wrong size was accepted");
	cJSON *ev = cJSON_Parse(json);
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(ev, "attestation_report");
	const cJSON *chain = cJSON_GetObjectItemCaseSensitive(ev, "cert_chain");
	if (!cJSON_IsObject(r) || cJSON_GetArraySize(r) != 27 ||
	    !(cJSON_IsArray(chain) || (cJSON_IsNull(chain) && !certs_len)))
		fuzz_fail("the evidence JSON lacks a report field or the certificate chain");
	cJSON_Delete(ev);
	free(json);
	return 0;
}
