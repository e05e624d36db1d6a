// SPDX-License-Identifier: GPL-2.0
#include <errno.h>

#include "luo.h"
#include "util.h"
#include "vm.h"

static int map_both(struct lu_vm *vm, size_t ram_size, size_t state_size)
{
	vm->ram = map_shared(vm->ram_fd, ram_size);
	vm->state = map_shared(vm->state_fd, state_size);
	return vm->ram && vm->state ? 0 : -ENOMEM;
}

int lu_vm_create(struct lu_vm *vm, const char *name, size_t ram_size,
		 size_t state_size)
{
	vm->luo = luo_open();
	vm->session = vm->luo >= 0 ? luo_create_session(vm->luo, name) :
				     vm->luo;
	if (vm->session < 0)
		return vm->session;
	vm->ram_fd = memfd_sealed("guest-ram", ram_size);
	vm->state_fd = memfd_sealed("vmm-state", state_size);
	if (vm->ram_fd < 0 || vm->state_fd < 0)
		return vm->ram_fd < 0 ? vm->ram_fd : vm->state_fd;
	return map_both(vm, ram_size, state_size);
}

int lu_vm_preserve_memfds(struct lu_vm *vm)
{
	return luo_preserve_fd(vm->session, vm->ram_fd, LU_TOKEN_RAM) ?:
	       luo_preserve_fd(vm->session, vm->state_fd, LU_TOKEN_STATE);
}

int lu_vm_retrieve(struct lu_vm *vm, const char *name, size_t ram_size,
		   size_t state_size)
{
	vm->luo = luo_open();
	vm->session = vm->luo >= 0 ? luo_retrieve_session(vm->luo, name) :
				     vm->luo;
	if (vm->session < 0)
		return vm->session;
	vm->ram_fd = luo_retrieve_fd(vm->session, LU_TOKEN_RAM);
	vm->state_fd = luo_retrieve_fd(vm->session, LU_TOKEN_STATE);
	if (vm->ram_fd < 0 || vm->state_fd < 0)
		return vm->ram_fd < 0 ? vm->ram_fd : vm->state_fd;
	return map_both(vm, ram_size, state_size);
}
