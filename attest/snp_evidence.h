/*
 * AMD SEV-SNP evidence in the JSON form guest-components' SNP attester produces and Trustee's
 * SNP verifier reads: {"attestation_report": <the report's fields, byte arrays as number arrays>,
 * "cert_chain": [{"cert_type": "VCEK", "data": [...]}, ...] | null}, built from the binary
 * ATTESTATION_REPORT (SEV-SNP ABI, 1184 bytes) and the extended-report certificate table.
 */
#ifndef TNGWG_ATTEST_SNP_EVIDENCE_H
#define TNGWG_ATTEST_SNP_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#define SNP_REPORT_LEN 1184
#define SNP_REPORT_DATA_OFFSET 0x50

/* malloc'd JSON text, or NULL with the reason in err (wrong report size, malformed cert table).
 * certs may be NULL/0 when there is no certificate table. */
char *snp_evidence_json(const uint8_t *report, size_t len, const uint8_t *certs, size_t certs_len,
			char *err, size_t errlen);

#endif
