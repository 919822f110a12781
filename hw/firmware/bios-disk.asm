; INT 13h for drive 80h on top of one disk driver (bios-ata.asm or
; bios-virtio.asm, chosen at POST from the firmware info port).  All
; transfers go through disk_xfer; CHS is translated with a fixed 16-head,
; 63-sector geometry.

; Brings up the boot disk.  FS = DATA_SEG.  CF set on failure
; (V_BOOT_IF = 0 when the machine has no boot disk).
disk_init:
    mov bx, FWI_BOOT_IF
    call fw_info
    mov [fs:V_BOOT_IF], al
    cmp al, BOOT_IF_IDE
    je .ide
    cmp al, BOOT_IF_VIRTIO
    je .virtio
    mov byte [fs:V_BOOT_IF], 0
    stc
    ret
.ide:
    call ata_init
    jmp .geometry
.virtio:
    call virtio_init
.geometry:
    jc .ret
    mov eax, [fs:V_SECTORS]
    cmp dword [fs:V_SECTORS + 4], 0
    jne .max_cyls
    xor edx, edx
    mov ecx, CHS_HEADS * CHS_SPT
    div ecx
    cmp eax, 1024
    jbe .cyls
.max_cyls:
    mov eax, 1024
.cyls:
    test ax, ax
    jnz .store
    inc ax                      ; a disk smaller than one cylinder still has one
.store:
    mov [fs:V_CYLS], ax
    clc
.ret:
    ret

; Transfers CX sectors at LBA EAX to (BL=1) or from (BL=0) the buffer ES:DI.
; FS = DATA_SEG.  Returns CF clear, or CF set with AH = INT 13h status.
disk_xfer:
    jcxz .ok
    cmp dword [fs:V_SECTORS + 4], 0
    jne .in_range
    movzx edx, cx
    add edx, eax
    jc .range
    cmp edx, [fs:V_SECTORS]
    ja .range
.in_range:
    cmp byte [fs:V_BOOT_IF], BOOT_IF_IDE
    je ata_xfer
    jmp virtio_xfer
.range:
    mov ah, DISK_NOT_FOUND
    stc
    ret
.ok:
    clc
    ret

int13_handler:
    ENTER_FRAME
    mov ax, DATA_SEG
    mov fs, ax
    mov ax, [bp + F_EAX]
    cmp dl, 0x80
    jne .bad_drive
    cmp byte [fs:V_BOOT_IF], 0
    je .bad_drive
    movzx bx, ah
    cmp bx, int13_table_len
    jae .bad_cmd
    shl bx, 1
    jmp [cs:int13_table + bx]
.bad_drive:
    cmp ah, 0x08                ; get parameters of a drive we lack: none
    jne .bad_cmd
    mov byte [bp + F_DL], 1
.bad_cmd:
    mov ah, DISK_BAD_CMD
    ; fall through
; Every function ends here with AH = status.
int13_done:
    mov [bp + F_AH], ah
    push ds
    push word 0
    pop ds
    mov [0x474], ah             ; last status, for AH=01h
    pop ds
    test ah, ah
    jz .ok
    SET_CF
    LEAVE_FRAME
.ok:
    CLEAR_CF
    LEAVE_FRAME

%define BAD int13_handler.bad_cmd
int13_table:
    dw int13_reset, int13_status, int13_read, int13_write      ; 00-03
    dw int13_success, BAD, BAD, BAD                            ; 04 verify
    dw int13_params                                            ; 08
    dw int13_success, BAD, BAD, int13_success                  ; 09 init, 0C seek
    dw int13_success, BAD, BAD                                 ; 0D alternate reset
    dw int13_success, int13_success, BAD, BAD, int13_success   ; 10 ready, 11 recal, 14 diag
    dw int13_disk_type                                         ; 15
    times 0x41 - 0x16 dw BAD
    dw int13_edd_check, int13_ext_read, int13_ext_write        ; 41-43
    dw int13_success, BAD, BAD                                 ; 44 verify
    dw int13_success, int13_ext_params                         ; 47 seek, 48
int13_table_len equ ($ - int13_table) / 2

int13_reset:
int13_success:
    xor ah, ah
    jmp int13_done

int13_status:
    push ds
    push word 0
    pop ds
    mov ah, [0x474]
    pop ds
    mov [bp + F_AL], ah
    xor ah, ah
    jmp int13_done

; CHS -> LBA in EAX; CF set (AH = status) for an address outside the geometry.
chs_to_lba:
    mov cx, [bp + F_ECX]
    mov dh, [bp + F_DH]
    mov bl, cl
    and bx, 0x3F                ; sector (1-based)
    jz .bad
    cmp dh, CHS_HEADS
    jae .bad
    movzx eax, ch
    shr cl, 6
    mov ah, cl                  ; cylinder = CH | (CL[7:6] << 8)
    imul eax, eax, CHS_HEADS
    movzx edx, dh
    add eax, edx
    imul eax, eax, CHS_SPT
    dec bx
    movzx ebx, bx
    add eax, ebx
    clc
    ret
.bad:
    mov ah, DISK_NOT_FOUND
    stc
    ret

int13_read:
    xor dl, dl
    jmp int13_chs_rw
int13_write:
    mov dl, 1
int13_chs_rw:
    movzx cx, byte [bp + F_AL]  ; sector count; AL returns the count done
    mov byte [bp + F_AL], 0
    jcxz .bad
    push cx
    push dx
    call chs_to_lba
    pop dx
    pop cx
    jc int13_done
    mov di, [bp + F_EBX]        ; ES:BX buffer (ES untouched)
    mov bl, dl
    push cx
    call disk_xfer
    pop cx
    jc int13_done
    mov [bp + F_AL], cl
    xor ah, ah
    jmp int13_done
.bad:
    mov ah, DISK_BAD_CMD
    jmp int13_done

int13_params:
    mov ax, [fs:V_CYLS]
    dec ax                      ; maximum cylinder number
    mov [bp + F_CH], al
    shl ah, 6
    or ah, CHS_SPT
    mov [bp + F_CL], ah
    mov byte [bp + F_DH], CHS_HEADS - 1
    mov byte [bp + F_DL], 1     ; number of hard disks
    mov byte [bp + F_BL], 0
    mov byte [bp + F_AL], 0
    xor ah, ah
    jmp int13_done

int13_disk_type:
    mov eax, [fs:V_SECTORS]
    mov [bp + F_EDX], ax
    shr eax, 16
    mov [bp + F_ECX], ax
    mov ah, 0x03                ; fixed disk (returned in AH with CF clear)
    mov [bp + F_AH], ah
    CLEAR_CF
    LEAVE_FRAME

int13_edd_check:
    cmp word [bp + F_EBX], 0x55AA
    jne int13_handler.bad_cmd
    mov word [bp + F_EBX], 0xAA55
    mov word [bp + F_ECX], 0x0005   ; fixed disk access subset + EDD (48h)
    mov ah, 0x30                ; EDD 3.0
    mov [bp + F_AH], ah
    CLEAR_CF
    LEAVE_FRAME

int13_ext_read:
    xor dl, dl
    jmp int13_ext_rw
int13_ext_write:
    mov dl, 1
; DS:SI -> disk address packet: size, 0, count, offset, segment, LBA (u64).
int13_ext_rw:
    mov si, [bp + F_ESI]
    cmp byte [si], 0x10
    jb .bad
    mov cx, [si + 2]
    mov word [si + 2], 0
    cmp dword [si + 4], 0xFFFFFFFF  ; 64-bit flat buffer address: not supported
    je .bad
    cmp dword [si + 12], 0
    jne .range
    mov eax, [si + 8]
    les di, [si + 4]
    mov bl, dl
    push cx
    push si
    call disk_xfer
    pop si
    pop cx
    mov es, [bp + F_ES]
    jc int13_done
    mov [si + 2], cx
    xor ah, ah
    jmp int13_done
.range:
    mov ah, DISK_NOT_FOUND
    jmp int13_done
.bad:
    mov ah, DISK_BAD_CMD
    jmp int13_done

; DS:SI -> result buffer; its first word is the caller's buffer size.
int13_ext_params:
    mov si, [bp + F_ESI]
    mov cx, [si]
    cmp cx, 0x1A
    jb int13_handler.bad_cmd
    mov word [si], 0x1A
    mov word [si + 2], 0x0002       ; CHS information valid
    movzx eax, word [fs:V_CYLS]
    mov [si + 4], eax
    mov dword [si + 8], CHS_HEADS
    mov dword [si + 12], CHS_SPT
    mov eax, [fs:V_SECTORS]
    mov [si + 16], eax
    mov eax, [fs:V_SECTORS + 4]
    mov [si + 20], eax
    mov word [si + 24], 512
    cmp cx, 0x1E
    jb .done
    mov word [si], 0x1E
    mov dword [si + 26], 0xFFFFFFFF ; no device parameter table extension
.done:
    xor ah, ah
    jmp int13_done
