; IDE/ATA driver for INT 13h: primary channel, master, PIO data transfers,
; LBA28 (LBA48 beyond 128 GiB).  Waits for INTRQ (IRQ14) in sti/hlt rather
; than spinning on the status port: the vCPU sleeps while the main loop
; completes the request.  FS = DATA_SEG throughout.

; Waits for the IDE interrupt, then consumes it.  Returns with IF clear.
ata_wait_irq:
    cli
    cmp byte [fs:V_IRQ_FLAG], 0
    jne .got
    sti
    hlt
    jmp ata_wait_irq
.got:
    mov byte [fs:V_IRQ_FLAG], 0
    ret

; Polls alternate status until BSY clears.  AL = status; CF set on timeout.
ata_wait_not_busy:
    push ecx
    push dx
    mov ecx, 0x400000
    mov dx, ATA_CTL
.poll:
    in al, dx
    test al, ST_BSY
    jz .ready
    dec ecx
    jnz .poll
    stc
    jmp .out
.ready:
    clc
.out:
    pop dx
    pop ecx
    ret

; After an interrupt: CF set (AH = status code) unless DRQ is set without
; an error.  BL = 1 for writes (maps a rejected write to write-protect).
ata_check_drq:
    push dx
    mov dx, ATA_CTL
    in al, dx
    test al, ST_ERR | ST_DF
    jnz .error
    test al, ST_DRQ
    jnz .ok
    mov ah, DISK_CTRL_FAIL
    jmp .fail
.error:
    mov dx, ATA_ERROR
    in al, dx
    mov ah, DISK_NOT_FOUND
    test al, 0x10               ; IDNF: address out of range
    jnz .fail
    mov ah, DISK_CTRL_FAIL
    test bl, bl
    jz .fail
    test al, 0x04               ; ABRT on a write: read-only drive
    jz .fail
    mov ah, DISK_WRITE_PROT
.fail:
    pop dx
    stc
    ret
.ok:
    pop dx
    clc
    ret

; Sends a read/write for AL = count (0 = 256) sectors at LBA ESI.
; BL = 0 read, 1 write.  CF set on timeout.
ata_command:
    push ax
    mov byte [fs:V_IRQ_FLAG], 0
    call ata_wait_not_busy
    pop ax
    jc .timeout
    mov dx, ATA_COUNT
    cmp byte [fs:V_LBA48], 0
    je .lba28
    mov ecx, esi
    add ecx, 256
    cmp ecx, 0x0FFFFFFF
    jb .lba28
    push ax                     ; LBA48: high-order bytes first
    xor al, al
    out dx, al                  ; count[15:8]
    mov eax, esi
    shr eax, 24
    inc dx
    out dx, al                  ; LBA[31:24]
    xor al, al
    inc dx
    out dx, al                  ; LBA[39:32]
    inc dx
    out dx, al                  ; LBA[47:40]
    pop ax
    mov dx, ATA_COUNT
    call ata_lba_low
    mov al, 0x40
    mov dx, ATA_DEVICE
    out dx, al
    mov al, CMD_READ_EXT
    test bl, bl
    jz .issue
    mov al, CMD_WRITE_EXT
    jmp .issue
.lba28:
    call ata_lba_low
    mov eax, esi
    shr eax, 24
    and al, 0x0F
    or al, 0xE0
    mov dx, ATA_DEVICE
    out dx, al
    mov al, CMD_READ
    test bl, bl
    jz .issue
    mov al, CMD_WRITE
.issue:
    mov dx, ATA_CMD
    out dx, al
    clc
    ret
.timeout:
    mov ah, DISK_TIMEOUT
    ret

; Writes AL to the count register and LBA[23:0] from ESI.  DX = ATA_COUNT.
ata_lba_low:
    out dx, al
    mov eax, esi
    inc dx
    out dx, al
    shr eax, 8
    inc dx
    out dx, al
    shr eax, 8
    inc dx
    out dx, al
    ret

; disk_xfer for IDE: EAX = LBA, CX = sectors, ES:DI = buffer, BL = 1 write.
ata_xfer:
    push bp
    mov esi, eax
    mov ax, di                  ; normalise ES:DI so DI < 16
    shr ax, 4
    mov dx, es
    add ax, dx
    mov es, ax
    and di, 0x0F
.chunk:
    mov bp, cx                  ; BP = sectors left after this chunk (frame BP pushed)
    cmp cx, 128
    jbe .count
    mov cx, 128
.count:
    sub bp, cx
    mov al, cl
    push cx
    call ata_command
    pop cx
    jc .ret
    call ata_pio_sectors
    jc .ret
    movzx eax, cx
    add esi, eax
    mov cx, bp
    test cx, cx
    jnz .chunk
    clc
.ret:
    pop bp
    ret

; Moves CX sectors of the command just issued.  ES:DI advances.
ata_pio_sectors:
    push cx
.sector:
    test bl, bl
    jnz .write
    call ata_wait_irq
    call ata_check_drq
    jc .done
    push cx
    mov cx, 256
    mov dx, ATA_DATA
    rep insw
    pop cx
    jmp .next
.write:
    call ata_wait_not_busy
    call ata_check_drq
    jc .done
    push cx
    push esi
    push ds
    push es
    pop ds
    mov si, di
    mov cx, 256
    mov dx, ATA_DATA
    rep outsw
    mov di, si                  ; advance DI like rep insw does for reads
    pop ds
    pop esi
    pop cx
    call ata_wait_irq
    mov dx, ATA_CTL
    in al, dx
    test al, ST_ERR | ST_DF
    jz .next
    mov ah, DISK_CTRL_FAIL
    stc
    jmp .done
.next:
    sub di, 512                 ; DI stays < 16: step the segment instead
    mov ax, es
    add ax, 0x20
    mov es, ax
    loop .sector
    clc
.done:
    pop cx
    ret

; Detects the drive with IDENTIFY DEVICE: size and LBA48 support.
; CF set if there is no drive or it does not answer.
ata_init:
    mov dx, ATA_CTL
    xor al, al
    out dx, al                  ; nIEN = 0: interrupts on
    mov dx, ATA_DEVICE
    mov al, 0xE0
    out dx, al
    mov dx, ATA_CTL
    in al, dx
    cmp al, 0xFF                ; floating bus: no controller
    je .fail
    mov byte [fs:V_IRQ_FLAG], 0
    call ata_wait_not_busy
    jc .fail
    mov dx, ATA_CMD
    mov al, CMD_IDENTIFY
    out dx, al
    call ata_wait_irq
    xor bl, bl
    call ata_check_drq
    jc .fail
    push es
    push fs
    pop es
    mov di, V_IDENTIFY
    mov cx, 256
    mov dx, ATA_DATA
    rep insw
    pop es
    mov eax, [fs:V_IDENTIFY + 60 * 2]   ; LBA28 capacity
    xor edx, edx
    test byte [fs:V_IDENTIFY + 83 * 2 + 1], 0x04    ; word 83 bit 10: LBA48
    jz .size
    mov byte [fs:V_LBA48], 1
    mov eax, [fs:V_IDENTIFY + 100 * 2]
    mov edx, [fs:V_IDENTIFY + 102 * 2]
.size:
    mov [fs:V_SECTORS], eax
    mov [fs:V_SECTORS + 4], edx
    clc
    ret
.fail:
    stc
    ret
