; qemu-lite BIOS: a 64 KiB image at F000:0000, entered at the reset vector
; F000:FFF0.  POST sets up the IVT, BDA, PIC and the boot disk (IDE or
; virtio-blk, whichever the machine says holds it), then loads sector 0 to
; 0000:7C00 and jumps to it with DL=80h.  See docs/firmware.md.
    cpu 386
    bits 16
    org 0

%include "bios.inc"

banner:     db "qemu-lite BIOS", 13, 10, 0
msg_ide:    db "Booting from Hard Disk (ide)...", 13, 10, 0
msg_virtio: db "Booting from Hard Disk (virtio-blk)...", 13, 10, 0
msg_nodisk: db "No bootable device.", 13, 10, 0
msg_badsig: db "Boot failed: not a bootable disk", 13, 10, 0
msg_readerr: db "Boot failed: could not read the boot disk", 13, 10, 0
msg_devfail: db "Boot failed: disk controller did not respond", 13, 10, 0

; Reads firmware info key BX into EAX.
fw_info:
    push dx
    mov dx, FW_INFO_PORT
    mov ax, bx
    out dx, ax
    in eax, dx
    pop dx
    ret

post:
    cli
    cld
    xor ax, ax
    mov ss, ax
    mov sp, 0x7000
    mov ds, ax
    mov es, ax
    mov al, 0x01
    out POST_PORT, al
    call serial_init
    call clear_low_memory
    call setup_ivt
    call setup_bda
    call pic_init
    call acpi_init
    call rtc_init
    mov al, 0x02
    out POST_PORT, al
    mov si, banner
    call print_str
    int 0x19                    ; boot; returns only if there is nothing to boot
    int 0x18

; Zeroes the IVT, the BDA and the BIOS private data.
clear_low_memory:
    xor ax, ax
    mov es, ax
    xor di, di
    mov cx, 0x500 / 2
    rep stosw
    mov ax, DATA_SEG
    mov es, ax
    xor di, di
    xor ax, ax
    mov cx, DATA_END / 2
    rep stosw
    xor ax, ax
    mov es, ax
    ret

; Points every vector at a handler: IRET for software INTs, EOI for IRQs,
; then the services this BIOS implements.
setup_ivt:
    xor di, di
    mov cx, 256
.fill:
    mov word [di], default_iret
    mov word [di + 2], BIOS_SEG
    add di, 4
    loop .fill
    mov di, 0x08 * 4
    mov cx, 8
.master:
    mov word [di], irq_master_eoi
    add di, 4
    loop .master
    mov di, 0x70 * 4
    mov cx, 8
.slave:
    mov word [di], irq_slave_eoi
    add di, 4
    loop .slave
    mov si, vector_table
.specific:
    cs lodsw                    ; vector number (0xFFFF ends the table; table in ROM)
    cmp ax, 0xFFFF
    je .done
    mov di, ax
    shl di, 2
    cs lodsw
    mov [di], ax
    jmp .specific
.done:
    ret

vector_table:
    dw 0x08, irq_timer
    dw 0x10, int10_handler
    dw 0x11, int11_handler
    dw 0x12, int12_handler
    dw 0x13, int13_handler
    dw 0x15, int15_handler
    dw 0x16, int16_handler
    dw 0x18, int18_handler
    dw 0x19, int19_handler
    dw 0x1A, int1a_handler
    dw 0x73, irq_virtio
    dw 0x76, irq_ide
    dw 0xFFFF

setup_bda:
    mov word [0x400], COM1
    mov word [0x40E], EBDA_SEG
    mov word [0x410], 0x0020            ; 80x25 colour, no floppy
    mov word [0x413], BASE_MEM_KIB
    mov byte [0x449], 3                 ; video mode 3
    mov word [0x44A], 80                ; columns
    mov byte [0x484], 24                ; rows - 1
    mov byte [0x475], 1                 ; one hard disk
    mov bx, FWI_TICKS
    call fw_info
    mov [0x46C], eax
    push es
    mov ax, EBDA_SEG
    mov es, ax
    mov byte [es:0], 1                  ; EBDA size in KiB
    mov ax, DATA_SEG
    mov es, ax
    mov bx, FWI_RAM_KIB
    call fw_info
    mov [es:V_RAM_KIB], eax
    pop es
    ret

; Master vectors 08h-0Fh, slave 70h-77h; everything masked except the
; cascade, IRQ11 (virtio-blk) and IRQ14 (IDE), which INT 13h waits on.
pic_init:
    mov al, 0x11
    out 0x20, al
    out 0xA0, al
    mov al, 0x08
    out 0x21, al
    mov al, 0x70
    out 0xA1, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x02
    out 0xA1, al
    mov al, 0x01
    out 0x21, al
    out 0xA1, al
    mov al, 0xFB
    out 0x21, al
    mov al, 0xB7
    out 0xA1, al
    ret

default_iret:
    iret

irq_master_eoi:
    push ax
    mov al, 0x20
    out 0x20, al
    pop ax
    iret

irq_slave_eoi:
    push ax
    mov al, 0x20
    out 0xA0, al
    out 0x20, al
    pop ax
    iret

irq_timer:
    push ds
    push word 0
    pop ds
    inc dword [0x46C]
    pop ds
    int 0x1C
    jmp irq_master_eoi

; INT 19h: bootstrap loader.  Brings up the boot disk, reads sector 0 to
; 0000:7C00, checks the 55AA signature and jumps there with DL=80h.
int19_handler:
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    mov ax, DATA_SEG
    mov fs, ax
    call disk_init
    jc .fail_dev
    mov si, msg_ide
    cmp byte [fs:V_BOOT_IF], BOOT_IF_IDE
    je .say
    mov si, msg_virtio
.say:
    call print_str
    xor ax, ax
    mov es, ax
    mov di, 0x7C00
    xor eax, eax
    mov cx, 1
    xor bl, bl
    call disk_xfer
    jc .fail_read
    cmp word [0x7DFE], 0xAA55
    jne .fail_sig
    mov al, 0x03
    out POST_PORT, al
    xor ax, ax
    mov es, ax
    mov fs, ax
    mov gs, ax
    xor ebx, ebx
    xor ecx, ecx
    xor esi, esi
    xor edi, edi
    xor ebp, ebp
    mov edx, 0x80
    mov sp, 0x7C00
    sti
    jmp 0:0x7C00
.fail_dev:
    cmp byte [fs:V_BOOT_IF], 0
    je .none
    mov si, msg_devfail
    jmp .halt
.fail_read:
    mov si, msg_readerr
    jmp .halt
.fail_sig:
    mov si, msg_badsig
.halt:
    call print_str
.none:
    int 0x18

; INT 18h: nothing to boot.  Halts (like a PC waiting for a key).
int18_handler:
    push cs
    pop ds
    mov si, msg_nodisk
    call print_str
.stop:
    cli
    hlt
    jmp .stop

%include "bios-video.asm"
%include "bios-services.asm"
%include "bios-disk.asm"
%include "bios-ata.asm"
%include "bios-virtio.asm"
%include "bios-apm.asm"
%include "bios-acpi.asm"

    times 0xFFF0 - ($ - $$) db 0xFF
reset_vector:
    jmp BIOS_SEG:post
    db "04/2026", 0
    times 0x10000 - ($ - $$) db 0xFF
