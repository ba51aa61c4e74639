#include "handshake/messages.h"

#include <string.h>

/* Fixed part of an evidence message: type, tee_len, two u32 lengths, key, port. */
#define EVIDENCE_FIXED_LEN (1 + 1 + 4 + 4 + 32 + 2)

void hs_hello_encode(const struct hs_hello *h, uint8_t out[HS_HELLO_LEN])
{
	out[0] = h->version;
	out[1] = (h->will_attest ? HS_HELLO_WILL_ATTEST : 0) |
		 (h->requires_peer_evidence ? HS_HELLO_REQUIRES_EVIDENCE : 0);
}

int hs_hello_decode(const uint8_t *p, size_t len, uint8_t own_version, struct hs_hello *h)
{
	if (len < 1)
		return -1;
	memset(h, 0, sizeof(*h));
	h->version = p[0];
	if (h->version != own_version)
		return 0;
	if (len != HS_HELLO_LEN)
		return -1;
	h->will_attest = p[1] & HS_HELLO_WILL_ATTEST;
	h->requires_peer_evidence = p[1] & HS_HELLO_REQUIRES_EVIDENCE;
	return 0;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

size_t hs_evidence_max_len(size_t max_evidence)
{
	return EVIDENCE_FIXED_LEN + HS_TEE_MAX + max_evidence;
}

size_t hs_evidence_encoded_len(const struct hs_evidence_msg *m)
{
	return EVIDENCE_FIXED_LEN + strlen(m->tee) + m->evidence_len + m->additional_len;
}

void hs_evidence_encode(const struct hs_evidence_msg *m, uint8_t *out)
{
	size_t tee_len = strlen(m->tee);

	*out++ = HS_MSG_EVIDENCE;
	*out++ = (uint8_t)tee_len;
	memcpy(out, m->tee, tee_len);
	out = put_u32(out + tee_len, (uint32_t)m->evidence_len);
	if (m->evidence_len)
		memcpy(out, m->evidence, m->evidence_len);
	out = put_u32(out + m->evidence_len, (uint32_t)m->additional_len);
	if (m->additional_len)
		memcpy(out, m->additional, m->additional_len);
	out += m->additional_len;
	memcpy(out, m->wg_public_key, 32);
	out[32] = (uint8_t)(m->wg_port >> 8);
	out[33] = (uint8_t)m->wg_port;
}

/* A length-prefixed part at *off: -1 unless it fits both the buffer and max. */
static int take_part(const uint8_t *p, size_t len, size_t *off, size_t max, const uint8_t **part,
		     size_t *part_len)
{
	if (len - *off < 4)
		return -1;
	uint32_t n = get_u32(p + *off);
	*off += 4;
	if (n > max || n > len - *off)
		return -1;
	*part = p + *off;
	*part_len = n;
	*off += n;
	return 0;
}

int hs_evidence_decode(const uint8_t *p, size_t len, size_t max_evidence, struct hs_evidence_msg *m)
{
	size_t off = 2;

	memset(m, 0, sizeof(*m));
	if (len < EVIDENCE_FIXED_LEN || p[0] != HS_MSG_EVIDENCE || p[1] > HS_TEE_MAX ||
	    p[1] > len - EVIDENCE_FIXED_LEN)
		return -1;
	for (size_t i = 0; i < p[1]; i++) {
		if (p[off + i] <= 0x20 || p[off + i] >= 0x7f)
			return -1;
		m->tee[i] = (char)p[off + i];
	}
	off += p[1];
	if (take_part(p, len, &off, max_evidence, &m->evidence, &m->evidence_len) != 0 ||
	    take_part(p, len, &off, max_evidence - m->evidence_len, &m->additional,
		      &m->additional_len) != 0 ||
	    len - off != 34)
		return -1;
	memcpy(m->wg_public_key, p + off, 32);
	m->wg_port = (uint16_t)(p[off + 32] << 8 | p[off + 33]);
	return 0;
}

size_t hs_verdict_encode(const struct hs_verdict_msg *m, uint8_t out[HS_VERDICT_MAX_LEN])
{
	size_t n = strnlen(m->detail, HS_DETAIL_MAX);

	out[0] = HS_MSG_VERDICT;
	out[1] = m->reason;
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	memcpy(out + 4, m->detail, n);
	return 4 + n;
}

int hs_verdict_decode(const uint8_t *p, size_t len, struct hs_verdict_msg *m)
{
	if (len < 4 || p[0] != HS_MSG_VERDICT)
		return -1;
	size_t n = (size_t)p[2] << 8 | p[3];
	if (n > HS_DETAIL_MAX || n != len - 4)
		return -1;
	m->reason = p[1];
	for (size_t i = 0; i < n; i++)
		m->detail[i] = p[4 + i] >= 0x20 && p[4 + i] < 0x7f ? (char)p[4 + i] : '?';
	m->detail[n] = '\0';
	return 0;
}
