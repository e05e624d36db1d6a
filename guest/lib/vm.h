/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every live update test's VMM keeps in its LUO session besides the
 * device: guest RAM in a sealed memfd and its own state in a second one,
 * both mapped.
 */
#ifndef LUTEST_VM_H
#define LUTEST_VM_H

#include <stddef.h>
#include <stdint.h>

/* LUO tokens of the two memfds in the session */
#define LU_TOKEN_RAM	1
#define LU_TOKEN_STATE	2

struct lu_vm {
	int luo;		/* /dev/liveupdate: one open file at a time */
	int session;
	int ram_fd;
	int state_fd;
	uint8_t *ram;
	void *state;
};

/*
 * Stage 1: a new session @name, sealed memfds of @ram_size and
 * @state_size bytes, mapped. 0, or -errno.
 */
int lu_vm_create(struct lu_vm *vm, const char *name, size_t ram_size,
		 size_t state_size);
/* Preserve both memfds in the session; 0 or -errno. */
int lu_vm_preserve_memfds(struct lu_vm *vm);
/* Stage 2: session @name and both memfds retrieved and mapped; 0 or -errno. */
int lu_vm_retrieve(struct lu_vm *vm, const char *name, size_t ram_size,
		   size_t state_size);

#endif
