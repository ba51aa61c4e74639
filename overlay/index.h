/*
 * The receiver-index table: the 32-bit indices this device hands out in its handshake messages,
 * mapped back to the handshake or keypair they name. Every incoming response, cookie reply and
 * transport message is routed through it. Entries are embedded in their owners; indices are random.
 */
#ifndef TNGWG_OVERLAY_INDEX_H
#define TNGWG_OVERLAY_INDEX_H

#include <stdint.h>

struct peer;
struct keypair;

enum index_kind { INDEX_HANDSHAKE, INDEX_KEYPAIR };

struct index_entry {
	uint32_t index;
	enum index_kind kind;
	struct peer *peer;
	struct keypair *keypair; /* INDEX_KEYPAIR only */
	struct index_entry *next; /* bucket chain */
	int linked;
};

struct index_table;

struct index_table *index_table_new(void);
void index_table_free(struct index_table *t);

/* Link e under a fresh random index (any previous one is unlinked first); returns the index. */
uint32_t index_table_insert(struct index_table *t, struct index_entry *e);
/* Put new_entry in old_entry's place under the same index (a handshake becoming a keypair). */
void index_table_replace(struct index_table *t, struct index_entry *old_entry, struct index_entry *new_entry);
void index_table_remove(struct index_table *t, struct index_entry *e);
struct index_entry *index_table_lookup(const struct index_table *t, uint32_t index);

#endif
