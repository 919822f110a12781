; INT 11h, 12h, 15h, 16h, 1Ah and the disk IRQ handlers.

int11_handler:
    push ds
    push word 0
    pop ds
    mov ax, [0x410]
    pop ds
    iret

int12_handler:
    mov ax, BASE_MEM_KIB
    iret

; INT 15h: E820 memory map, E801h, 88h, A20 (always on), 86h wait, 53h APM.
int15_handler:
    ENTER_FRAME
    mov ax, DATA_SEG
    mov fs, ax
    mov eax, [bp + F_EAX]
    cmp eax, 0xE820
    je .e820
    cmp ax, 0xE801
    je .e801
    cmp ah, 0x88
    je .ext_mem
    cmp ah, 0x24
    je .a20
    cmp ah, 0x53
    je .apm
    cmp ah, 0x86
    je .ok
    cmp ah, 0x91
    je .ok
    cmp ah, 0x90
    je .ok
    mov byte [bp + F_AH], 0x86  ; function not supported
    SET_CF
    jmp .done
.e820:
    call e820_entry
    jmp .done
.apm:
    call apm_function
    jmp .done
.e801:                          ; AX/CX: KiB in 1-16 MiB; BX/DX: 64 KiB blocks above 16 MiB
    call ram_above_1m_kib
    mov ebx, eax
    cmp eax, 15 * 1024
    jbe .e801_low
    mov eax, 15 * 1024
.e801_low:
    mov [bp + F_EAX], ax
    mov [bp + F_ECX], ax
    sub ebx, eax
    shr ebx, 6
    mov [bp + F_EBX], bx
    mov [bp + F_EDX], bx
    jmp .ok
.ext_mem:
    call ram_above_1m_kib
    cmp eax, 0xFFFF
    jbe .ext_store
    mov ax, 0xFFFF
.ext_store:
    mov [bp + F_EAX], ax
    jmp .ok
.a20:
    cmp al, 0x02
    jne .a20_other
    mov byte [bp + F_AL], 1     ; enabled
    jmp .a20_ok
.a20_other:
    cmp al, 0x03
    jne .a20_ok
    mov word [bp + F_EBX], 0x0003   ; keyboard controller and port 92h
.a20_ok:
    mov byte [bp + F_AH], 0
.ok:
    CLEAR_CF
.done:
    LEAVE_FRAME

; EAX = KiB of RAM above 1 MiB.
ram_above_1m_kib:
    mov eax, [fs:V_RAM_KIB]
    sub eax, 1024
    ret

; One E820 entry per call: EBX = index in, next index (0 after the last) out.
e820_entry:
    cmp edx, 0x534D4150         ; 'SMAP'
    jne .bad
    mov ebx, [bp + F_EBX]
    cmp ebx, 4
    jae .bad
    mov di, [bp + F_EDI]
    shl bx, 4                   ; table entries are 16 bytes: base, length, type
    mov eax, [cs:e820_table + bx]
    mov [es:di], eax
    mov dword [es:di + 4], 0
    mov eax, [cs:e820_table + bx + 4]
    cmp bx, 3 * 16
    jne .len
    mov eax, [fs:V_RAM_KIB]     ; the last entry runs to the end of RAM
    shl eax, 10
    sub eax, 0x100000
.len:
    mov [es:di + 8], eax
    mov dword [es:di + 12], 0
    mov eax, [cs:e820_table + bx + 8]
    mov [es:di + 16], eax
    shr bx, 4
    inc bx
    cmp bx, 4
    jb .next
    xor bx, bx
.next:
    mov [bp + F_EBX], ebx
    mov dword [bp + F_EAX], 0x534D4150
    mov dword [bp + F_ECX], 20
    CLEAR_CF
    ret
.bad:
    mov byte [bp + F_AH], 0x86
    SET_CF
    ret

e820_table:                      ; base, length, type, pad
    dd 0x00000, DATA_LINEAR, 1, 0
    dd DATA_LINEAR, 0xA0000 - DATA_LINEAR, 2, 0
    dd 0xF0000, 0x10000, 2, 0
    dd 0x100000, 0, 1, 0

; INT 16h: there is no keyboard.  Status calls report no key; a blocking
; read waits forever, as on a PC with nothing plugged in.
int16_handler:
    ENTER_FRAME
    cmp ah, 0x01
    je .no_key
    cmp ah, 0x11
    je .no_key
    cmp ah, 0x02
    je .shift
    cmp ah, 0x12
    je .shift
    cmp ah, 0x00
    je .wait
    cmp ah, 0x10
    je .wait
    jmp .done                   ; 03h typematic, 05h store key...
.no_key:
    or byte [bp + F_FLAGS], 0x40    ; ZF: no keystroke
    jmp .done
.shift:
    mov word [bp + F_EAX], 0
    jmp .done
.wait:
    sti
    hlt
    jmp .wait
.done:
    LEAVE_FRAME

; INT 1Ah: tick count from the host clock (no timer interrupt needed);
; RTC time and date from the CMOS clock (hw/rtc.cc), BCD, as SeaBIOS.
int1a_handler:
    ENTER_FRAME
    cmp ah, 0x00
    je .ticks
    cmp ah, 0x02
    je .time
    cmp ah, 0x03
    je .set_time
    cmp ah, 0x04
    je .date
    cmp ah, 0x05
    je .set_date
    CLEAR_CF
    jmp .done
.ticks:
    mov bx, FWI_TICKS
    call fw_info
    mov [bp + F_EDX], ax
    shr eax, 16
    mov [bp + F_ECX], ax
    mov byte [bp + F_AL], 0
    jmp .done
.time:                          ; CH hours, CL minutes, DH seconds, DL DST flag
    mov al, CMOS_SEC
    call cmos_read
    mov [bp + F_DH], al
    mov al, CMOS_MIN
    call cmos_read
    mov [bp + F_CL], al
    mov al, CMOS_HOUR
    call cmos_read
    mov [bp + F_CH], al
    mov al, CMOS_STATUS_B
    call cmos_read
    and al, 0x01
    mov [bp + F_DL], al
    jmp .rtc_ok
.date:                          ; CH century, CL year, DH month, DL day
    mov al, CMOS_CENTURY
    call cmos_read
    mov [bp + F_CH], al
    mov al, CMOS_YEAR
    call cmos_read
    mov [bp + F_CL], al
    mov al, CMOS_MONTH
    call cmos_read
    mov [bp + F_DH], al
    mov al, CMOS_MDAY
    call cmos_read
    mov [bp + F_DL], al
    jmp .rtc_ok
.set_time:
    mov ah, [bp + F_DH]
    mov al, CMOS_SEC
    call cmos_write
    mov ah, [bp + F_CL]
    mov al, CMOS_MIN
    call cmos_write
    mov ah, [bp + F_CH]
    mov al, CMOS_HOUR
    call cmos_write
    jmp .rtc_ok
.set_date:
    mov ah, [bp + F_CH]
    mov al, CMOS_CENTURY
    call cmos_write
    mov ah, [bp + F_CL]
    mov al, CMOS_YEAR
    call cmos_write
    mov ah, [bp + F_DH]
    mov al, CMOS_MONTH
    call cmos_write
    mov ah, [bp + F_DL]
    mov al, CMOS_MDAY
    call cmos_write
.rtc_ok:
    mov byte [bp + F_AH], 0
    CLEAR_CF
.done:
    LEAVE_FRAME

; AL = CMOS register -> AL = its value.
cmos_read:
    out CMOS_INDEX, al
    in al, CMOS_DATA
    ret

; AL = CMOS register <- AH.
cmos_write:
    out CMOS_INDEX, al
    mov al, ah
    out CMOS_DATA, al
    ret

; POST: BCD, 24-hour, no RTC interrupts (SeaBIOS's rtc_setup).
rtc_init:
    mov ax, 0x2600 | CMOS_STATUS_A
    call cmos_write
    mov ax, 0x0200 | CMOS_STATUS_B
    call cmos_write
    mov al, CMOS_STATUS_C
    call cmos_read
    ret

; IRQ14: reading the status register deasserts INTRQ; INT 13h waits on the flag.
irq_ide:
    push ax
    push dx
    push ds
    mov dx, ATA_CMD
    in al, dx
    mov ax, DATA_SEG
    mov ds, ax
    mov byte [V_IRQ_FLAG], 1
    pop ds
    pop dx
    jmp irq_slave_eoi_pop

; IRQ11: acknowledge the virtio interrupt; INT 13h watches the used ring.
irq_virtio:
    push ax
    push dx
    push ds
    push eax
    mov ax, VIRTIO_SEG
    mov ds, ax
    mov eax, [VIO_INT_STATUS]
    mov [VIO_INT_ACK], eax
    pop eax
    pop ds
    pop dx
irq_slave_eoi_pop:
    mov al, 0x20
    out 0xA0, al
    out 0x20, al
    pop ax
    iret
