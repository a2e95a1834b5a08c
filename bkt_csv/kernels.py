"""Numba kernels of the pyBKT CSV reader and the predictions writer (bkt_csv/files.py).

The file's bytes are cut into pieces at line starts, parsed in parallel. A piece is read a
block of lines at a time: the lines are split into fields at the delimiters and line breaks
found 64 bytes at a time (two vector compares, as bit masks), then each needed column of
the block is parsed in a small loop of its own, over bytes still in cache: correctness and
order as integers (up to 8 digits at once), strings coded through the piece's own hash
table, keyed by their bytes (exact up to 15 bytes, a 120-bit fingerprint beyond). The
pieces' tables are then merged, so that codes follow first appearance in the file
whatever the cut.

Helpers called in the hot loops take scalars or go through the intrinsics below, which
read the array's memory directly: an inlined helper that takes an array may cost a
reference-count update per call.
"""

import numpy as np
from llvmlite import ir
from numba import config, prange, types
from numba.extending import intrinsic

from engine.jit import inline, kernel, parallel_kernel

# What a field holds (roles[f]); string roles are also column numbers + 1.
IGNORED, LEARNER, SKILL, RESOURCE, CORRECT, ORDER = 0, 1, 2, 3, 4, 5
STRING_COLUMNS = 3
# Per-line problems, stored by a piece as (code, byte offset of the line).
MISSING_FIELD, BAD_CORRECT, BAD_ORDER, BAD_QUOTE = 1, 2, 3, 4
FIRST_SLOTS = 1024  # per string column and piece; doubled when half full
# Lines split into fields, then parsed column by column. Not a power of two: the block's
# field arrays would then sit 8 KiB apart and share the same few cache sets (twice slower).
BLOCK_LINES = 1000
NEWLINE, RETURN, SPACE, TAB, QUOTE, MINUS, PLUS, DOT, ZERO = 10, 13, 32, 9, 34, 45, 43, 46, 48
LONG_KEY = np.uint64(0xFF) << np.uint64(56)  # marks a hashed key: no packed length reaches 255
ASCII_ZEROS = np.uint64(0x3030303030303030)
ALL = np.uint64(0xFFFFFFFFFFFFFFFF)


# ---------------------------------------------------------------- 8 and 64 bytes at a time

if config.DISABLE_JIT:  # plain Python for coverage runs

    def load_u64(data, k):
        return np.uint64(int.from_bytes(data[k : k + 8].tobytes(), "little"))

    def byte_masks(data, k, delimiter):
        window = data[k : k + 64]
        bits = np.uint64(1) << np.arange(64, dtype=np.uint64)
        return np.bitwise_or.reduce(bits[window == delimiter]), np.bitwise_or.reduce(bits[window == NEWLINE])

    def store_u64(out, k, value):
        out[k : k + 8] = np.frombuffer(int(value).to_bytes(8, "little"), np.uint8)

    def trailing_zeros(x):
        x = int(x)
        return np.uint64((x & -x).bit_length() - 1)

else:

    @intrinsic
    def load_u64(typingctx, data, k):
        """data[k:k + 8] as a little-endian uint64, unaligned (the caller keeps k + 8 <= size)."""

        def codegen(context, builder, signature, args):
            array = context.make_array(signature.args[0])(context, builder, args[0])
            pointer = builder.bitcast(builder.gep(array.data, [args[1]]), ir.IntType(64).as_pointer())
            return builder.load(pointer, align=1)

        return types.uint64(data, k), codegen

    @intrinsic
    def store_u64(typingctx, out, k, value):
        """out[k:k + 8] = value's bytes, little-endian, unaligned (the caller keeps k + 8 <= size)."""

        def codegen(context, builder, signature, args):
            array = context.make_array(signature.args[0])(context, builder, args[0])
            pointer = builder.bitcast(builder.gep(array.data, [args[1]]), ir.IntType(64).as_pointer())
            builder.store(args[2], pointer, align=1)
            return context.get_dummy_value()

        return types.none(out, k, types.uint64), codegen

    @intrinsic
    def trailing_zeros(typingctx, x):
        """Count of trailing zero bits of a non-zero uint64 (one tzcnt)."""

        def codegen(context, builder, signature, args):
            return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

        return types.uint64(types.uint64), codegen

    @intrinsic
    def byte_masks(typingctx, data, k, delimiter):
        """(delimiter bits, line-break bits) of data[k:k + 64]: bit i set where byte k + i is
        one (two vector compares; the caller keeps k + 64 <= size)."""

        def codegen(context, builder, signature, args):
            array = context.make_array(signature.args[0])(context, builder, args[0])
            byte = ir.IntType(8)
            vector = ir.VectorType(byte, 64)
            pointer = builder.bitcast(builder.gep(array.data, [args[1]]), vector.as_pointer())
            window = builder.load(pointer, align=1)
            undefined = ir.Constant(vector, ir.Undefined)
            spread = builder.shuffle_vector(
                builder.insert_element(undefined, builder.trunc(args[2], byte), ir.Constant(ir.IntType(32), 0)),
                undefined,
                ir.Constant(ir.VectorType(ir.IntType(32), 64), [0] * 64),
            )
            delimiters = builder.icmp_unsigned("==", window, spread)
            newlines = builder.icmp_unsigned("==", window, ir.Constant(vector, [NEWLINE] * 64))
            masks = [builder.bitcast(found, ir.IntType(64)) for found in (delimiters, newlines)]
            return context.make_tuple(builder, signature.return_type, masks)

        return types.UniTuple(types.uint64, 2)(data, k, delimiter), codegen


@inline
def separators(data, base, delimiter):
    """(delimiter bits, line-break bits) of the 64 bytes from base; the end of the data
    counts as a line break (a last line may lack one)."""
    size = data.shape[0]
    if base + 64 <= size:
        return byte_masks(data, base, delimiter)
    delimiters = np.uint64(0)
    newlines = np.uint64(1) << np.uint64(size - base)
    for i in range(size - base):
        if data[base + i] == delimiter:
            delimiters |= np.uint64(1) << np.uint64(i)
        elif data[base + i] == NEWLINE:
            newlines |= np.uint64(1) << np.uint64(i)
    return delimiters, newlines


@inline
def low_bytes(n):
    """A mask of the n < 8 lowest bytes."""
    return (np.uint64(1) << np.uint64(8 * n)) - np.uint64(1)


@inline
def digits_value(word, n):
    """(value, ok) of the n (1 to 8) ASCII digits in the low bytes of a word (read from the
    file: first digit lowest), all checked at once."""
    word = word << np.uint64(8 * (8 - n))  # the digits in the high bytes
    if n < 8:
        word |= ASCII_ZEROS >> np.uint64(8 * n)  # leading zeros below them
    x = word - ASCII_ZEROS
    if (x | (x + np.uint64(0x7676767676767676))) & np.uint64(0x8080808080808080):
        return 0, False  # a byte above '9' carries into its top bit, one below '0' borrows
    # Pairs, then fours, then eight digits (most significant in the lowest byte).
    x = x * np.uint64(10) + (x >> np.uint64(8))
    x = (
        (x & np.uint64(0x000000FF000000FF)) * np.uint64(100 + (1000000 << 32))
        + ((x >> np.uint64(16)) & np.uint64(0x000000FF000000FF)) * np.uint64(1 + (10000 << 32))
    ) >> np.uint64(32)
    return np.int64(x), True


# ---------------------------------------------------------------- counting and cutting


@kernel
def count_newlines(data, bounds, out):
    """out[p]: line breaks in piece p, the piece's upper bound of rows."""
    for p in range(bounds.shape[0] - 1):
        piece = data[bounds[p] : bounds[p + 1]]  # indices from 0 need no negative-index
        n = 0  # wrap-around, so LLVM vectorises the count
        for k in range(piece.shape[0]):
            n += piece[k] == NEWLINE
        out[p] = n


# ---------------------------------------------------------------- fields


@inline
def packed_key(w0, w1, n):
    """The key of a string of n <= 15 bytes from the two words read where it starts."""
    if n < 8:
        return w0 & low_bytes(n), np.uint64(n) << np.uint64(56)
    return w0, (w1 & low_bytes(n - 8)) | (np.uint64(n) << np.uint64(56))


@inline
def string_key(data, lo, hi, escaped):
    """A 128-bit key of the string data[lo:hi], each doubled quote read as one when `escaped`:
    its bytes and length when at most 15 bytes (exact: most ids are that short; as
    packed_key), else two independent 64-bit hashes (FNV-1a and a polynomial one) marked by
    LONG_KEY. Keys tell strings apart without reading the file again where a string first
    appeared. The slow path, for what packed_key does not take."""
    n = hi - lo
    if escaped:
        n = 0
        k = lo
        while k < hi:
            k += 2 if data[k] == QUOTE else 1
            n += 1
    if n <= 15:
        w0 = np.uint64(0)
        w1 = np.uint64(n) << np.uint64(56)
        k = lo
        for i in range(n):
            c = np.uint64(data[k])
            k += 2 if escaped and data[k] == QUOTE else 1
            if i < 8:
                w0 |= c << np.uint64(8 * i)
            else:
                w1 |= c << np.uint64(8 * (i - 8))
        return w0, w1
    h1 = np.uint64(14695981039346656037)
    h2 = np.uint64(n)
    k = lo
    while k < hi:
        c = np.uint64(data[k])
        k += 2 if escaped and data[k] == QUOTE else 1
        h1 = (h1 ^ c) * np.uint64(1099511628211)
        h2 = h2 * np.uint64(0x9E3779B97F4A7C15) + c + np.uint64(1)
    return h1, h2 | LONG_KEY


@inline
def slot_of(key0, key1, mask):
    """Home slot of a key (murmur3's finaliser over both words)."""
    h = key0 ^ (key1 * np.uint64(0x9E3779B97F4A7C15))
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return np.int64(h & np.uint64(mask))


@kernel
def grown_slots(keys, uniques, size):
    """Every string column's open-addressing table rebuilt with `size` slots."""
    slots = np.full((STRING_COLUMNS, size), -1, np.int64)
    for c in range(STRING_COLUMNS):
        for u in range(uniques[c]):
            k = slot_of(keys[c, u, 0], keys[c, u, 1], size - 1)
            while slots[c, k] >= 0:
                k = (k + 1) & (size - 1)
            slots[c, k] = u
    return slots


@inline
def parse_int(data, lo, hi):
    """(value, ok) of an optionally signed integer in data[lo:hi], spaces around it allowed,
    and a '.0...' tail (pandas writes 3.0 for an integer column that had a missing value).
    The slow path, for what digits_value does not take."""
    while lo < hi and (data[lo] == SPACE or data[lo] == TAB):
        lo += 1
    while hi > lo and (data[hi - 1] == SPACE or data[hi - 1] == TAB):
        hi -= 1
    negative = lo < hi and data[lo] == MINUS
    if negative or (lo < hi and data[lo] == PLUS):
        lo += 1
    value = 0
    k = lo
    while k < hi and ZERO <= data[k] <= ZERO + 9:
        value = value * 10 + (np.int64(data[k]) - ZERO)
        k += 1
    if k == lo or k - lo > 18:  # no digits, or more than an int64 surely holds
        return 0, False
    if k < hi and data[k] == DOT:
        k += 1
        while k < hi and data[k] == ZERO:
            k += 1
    if k != hi:
        return 0, False
    return (-value if negative else value), True


# ---------------------------------------------------------------- one piece, a block of lines at a time


@kernel
def split_lines(data, k, hi, delimiter, n_fields, cursor, fields, escaped, lines, problem):
    """Split the lines from k (at most a block, not past hi) into their first n_fields fields:
    fields[f, :, r] = (start, end) of field f's content in line r (quotes and a final CR
    removed), escaped[f, r]: whether it holds doubled quotes, lines[r]: where the line
    starts. Blank lines are skipped. Returns (lines split, where the next one starts).

    `cursor` carries from one call to the next the bit masks of the delimiters and line
    breaks in the 64 bytes from cursor[0], bits before the current position cleared:
    finding the end of a field takes no loop over bytes. A line with too few fields or an
    unterminated quote ends the block before it, with problem = (code, where the line starts).
    """
    size = data.shape[0]
    base = np.int64(cursor[0])
    delimiters = cursor[1]
    newlines = cursor[2]
    r = 0
    while r < lines.shape[0] and k < hi:
        line = k
        c = data[k]
        if c == NEWLINE or c == RETURN or c == SPACE:  # perhaps a blank line
            j = k
            while j < hi and (data[j] == RETURN or data[j] == SPACE):
                j += 1
            if j >= hi or data[j] == NEWLINE:
                k = j + 1
                base = k - 64  # the masks are read again from k when a field needs them
                delimiters = newlines = np.uint64(0)
                continue
        line_ended = False
        for f in range(n_fields):
            if line_ended:
                problem[0] = MISSING_FIELD
                problem[1] = line
                return r, line
            a = k
            escaped[f, r] = False
            quoted = k < size and data[k] == QUOTE
            if quoted:
                a = k + 1
                k = a
                while True:
                    while k < size and data[k] != QUOTE and data[k] != NEWLINE:
                        k += 1
                    if k + 1 < size and data[k] == QUOTE and data[k + 1] == QUOTE:
                        escaped[f, r] = True
                        k += 2
                        continue
                    break
                if k >= size or data[k] != QUOTE:
                    problem[0] = BAD_QUOTE
                    problem[1] = line
                    return r, line
                fields[f, 1, r] = k
                base = k - 63  # read again from past the quote: delimiters inside it do not count
                delimiters = newlines = np.uint64(0)
            while (delimiters | newlines) == 0:
                base += 64
                delimiters, newlines = separators(data, base, delimiter)
            found = delimiters | newlines
            bit = trailing_zeros(found)
            end = base + np.int64(bit)
            line_ended = (newlines >> bit) & np.uint64(1) != 0
            found &= found - np.uint64(1)
            delimiters &= found
            newlines &= found
            fields[f, 0, r] = a
            if not quoted:
                fields[f, 1, r] = end - 1 if line_ended and end > a and data[end - 1] == RETURN else end
            k = end + 1
        if not line_ended:  # fields no role needs: on to the line break
            while newlines == 0:
                base += 64
                delimiters, newlines = separators(data, base, delimiter)
            bit = trailing_zeros(newlines)
            k = base + np.int64(bit) + 1
            remaining = ~((np.uint64(2) << bit) - np.uint64(1))  # bits past the line break
            delimiters &= remaining
            newlines &= remaining
        lines[r] = line
        r += 1
    cursor[0], cursor[1], cursor[2] = base, delimiters, newlines
    return r, k


@kernel
def parse_correct(data, starts, ends, m, correct):
    """A field of a block's m lines (from starts[r] to ends[r]) as correctness: 1.0, 0.0, or
    NaN for -1. Returns the first line that holds something else, or m."""
    for r in range(m):
        a = starts[r]
        b = ends[r]
        if b == a + 1 and (data[a] == ZERO or data[a] == ZERO + 1):
            correct[r] = data[a] - ZERO
            continue
        value, ok = parse_int(data, a, b)  # the slow path
        if not ok or value < -1 or value > 1:
            return r
        correct[r] = np.nan if value == -1 else value
    return m


@kernel
def parse_order(data, starts, ends, m, order):
    """A field of a block's m lines as integers. Returns the first line that holds something
    else, or m."""
    size = data.shape[0]
    for r in range(m):
        a = starts[r]
        n = ends[r] - a
        if 0 < n <= 8 and a + 8 <= size:
            value, ok = digits_value(load_u64(data, a), n)
            if ok:
                order[r] = value
                continue
        value, ok = parse_int(data, a, a + n)  # the slow path
        if not ok:
            return r
        order[r] = value
    return m


@kernel
def code_strings(data, starts, ends, escaped, column, m, codes, slots, keys, spans, uniques, last_key):
    """A field of a block's m lines coded as string column `column` through this piece's
    table (open addressing, kept at most half full); a new string gets the next code and
    its key and span are stored (room for one new string per line). last_key holds the
    column's last key and code, since a learner's rows come in runs. Returns the table,
    grown if it had to."""
    size = data.shape[0]
    for r in range(m):
        a = starts[r]
        b = ends[r]
        if b - a <= 15 and not escaped[r] and a + 16 <= size:
            key0, key1 = packed_key(load_u64(data, a), load_u64(data, a + 8), b - a)
        else:
            key0, key1 = string_key(data, a, b, escaped[r])  # the slow path
        if key0 != last_key[column, 0] or key1 != last_key[column, 1]:
            mask = slots.shape[1] - 1
            at = slot_of(key0, key1, mask)
            u = slots[column, at]
            while u >= 0 and not (keys[column, u, 0] == key0 and keys[column, u, 1] == key1):
                at = (at + 1) & mask
                u = slots[column, at]
            if u < 0:
                u = uniques[column]
                keys[column, u, 0] = key0
                keys[column, u, 1] = key1
                spans[column, u, 0] = a
                spans[column, u, 1] = b
                spans[column, u, 2] = escaped[r]
                slots[column, at] = u
                uniques[column] = u + 1
                if 2 * uniques[column] > slots.shape[1]:
                    slots = grown_slots(keys, uniques, 2 * slots.shape[1])
            last_key[column, 0] = key0
            last_key[column, 1] = key1
            last_key[column, 2] = u
        codes[r] = last_key[column, 2]
    return slots


@kernel
def parse_piece(data, lo, hi, delimiter, roles, first_row, codes, correct, order, keys, spans, problem):
    """Parse the lines of data[lo:hi] into rows first_row, first_row + 1, ...

    roles[f] says what field f holds (fields past the last needed one are skipped). String
    column c is coded into codes[c]; its u-th distinct string in this piece has key
    keys[c, u] and spans[c, u] = (start, end, escaped) in the file. Blank lines are skipped.
    Stops at the first problem, stored as problem = (code, byte offset of its line).
    Returns (rows parsed, distinct strings per column).
    """
    n_fields = roles.shape[0]
    fields = np.empty((n_fields, 2, BLOCK_LINES), np.int64)
    escaped = np.empty((n_fields, BLOCK_LINES), np.bool_)
    lines = np.empty(BLOCK_LINES, np.int64)
    cursor = np.zeros(3, np.uint64)  # masks to be read from lo
    cursor[0] = lo - 64
    uniques = np.zeros(STRING_COLUMNS, np.int64)
    slots = np.full((STRING_COLUMNS, FIRST_SLOTS), -1, np.int64)
    last_key = np.full((STRING_COLUMNS, 3), ALL)  # key and code; no key is all ones
    row = first_row
    k = lo
    while k < hi and problem[0] == 0:
        m, k = split_lines(data, k, hi, delimiter, n_fields, cursor, fields, escaped, lines, problem)
        bad = m  # the block's first line with a value that cannot be read, and its problem
        bad_problem = 0
        for f in range(n_fields):
            role = roles[f]
            if role == CORRECT:
                r = parse_correct(data, fields[f, 0], fields[f, 1], m, correct[row:])
                if r < bad:
                    bad, bad_problem = r, BAD_CORRECT
            elif role == ORDER:
                r = parse_order(data, fields[f, 0], fields[f, 1], m, order[row:])
                if r < bad:
                    bad, bad_problem = r, BAD_ORDER
            elif role != IGNORED:
                slots = code_strings(
                    data,
                    fields[f, 0],
                    fields[f, 1],
                    escaped[f],
                    role - 1,
                    m,
                    codes[role - 1, row:],
                    slots,
                    keys,
                    spans,
                    uniques,
                    last_key,
                )
        if bad < m:  # before the line, if any, that ended the block
            problem[0] = bad_problem
            problem[1] = lines[bad]
            return row + bad - first_row, uniques
        row += m
    return row - first_row, uniques


@parallel_kernel
def parse_pieces(
    data, bounds, delimiter, roles, first_rows, codes, correct, order, keys, spans, problems, rows, uniques
):
    for p in prange(bounds.shape[0] - 1):
        n, u = parse_piece(
            data,
            bounds[p],
            bounds[p + 1],
            delimiter,
            roles,
            first_rows[p],
            codes,
            correct,
            order,
            keys[p],
            spans[p],
            problems[p],
        )
        rows[p] = n
        uniques[p] = u


@kernel
def string_stores(n_pieces, capacity):
    """Per piece, room for `capacity` distinct strings per column (its rows at most): keys
    and spans. Allocated
    here (malloc, pages touched as used) rather than by numpy, whose large arrays are given
    huge pages that are zeroed whole at first touch."""
    return (
        np.empty((n_pieces, STRING_COLUMNS, capacity, 2), np.uint64),
        np.empty((n_pieces, STRING_COLUMNS, capacity, 3), np.int64),
    )


# ---------------------------------------------------------------- merging the pieces


@kernel
def merge_strings(keys, spans, uniques, to_file_code, file_spans):
    """Codes in the whole file, in order of first appearance: to_file_code[p, c, u] is the
    file's code of piece p's u-th string of column c; file_spans[c, code] its first span.
    Returns the number of distinct strings per column."""
    n_pieces = keys.shape[0]
    totals = np.zeros(STRING_COLUMNS, np.int64)
    for c in range(STRING_COLUMNS):
        # A loop rather than uniques[:, c].sum(): with Numba's array sum inside, loading this
        # kernel from the cache imports numba.np.arraymath, and that scipy.linalg (0.2 s).
        total = 0
        for p in range(n_pieces):
            total += uniques[p, c]
        size = 1024
        while size < 2 * total:
            size *= 2
        slots = np.full(size, -1, np.int64)
        mask = size - 1
        file_keys = np.empty((total, 2), np.uint64)
        n = 0
        for p in range(n_pieces):
            for u in range(uniques[p, c]):
                key0, key1 = keys[p, c, u, 0], keys[p, c, u, 1]
                k = slot_of(key0, key1, mask)
                while slots[k] >= 0 and not (file_keys[slots[k], 0] == key0 and file_keys[slots[k], 1] == key1):
                    k = (k + 1) & mask
                if slots[k] < 0:
                    slots[k] = n
                    file_keys[n, 0] = key0
                    file_keys[n, 1] = key1
                    file_spans[c, n] = spans[p, c, u]
                    n += 1
                to_file_code[p, c, u] = slots[k]
        totals[c] = n
    return totals


@parallel_kernel
def recode(codes, first_rows, rows, to_file_code, uniques):
    """Piece codes to file codes, row by row, for the pieces whose codes differ."""
    for p in prange(first_rows.shape[0]):
        for c in range(STRING_COLUMNS):
            same = True
            for u in range(uniques[p, c]):
                if to_file_code[p, c, u] != u:
                    same = False
                    break
            if same:
                continue
            table = to_file_code[p, c]
            for row in range(first_rows[p], first_rows[p] + rows[p]):
                codes[c, row] = table[codes[c, row]]


# ---------------------------------------------------------------- predictions


# The text of 0..999 with three digits, as the little-endian bytes of each entry.
THREE_DIGITS = np.array([int.from_bytes(f"{i:03d}".encode(), "little") for i in range(1000)], np.uint64)


@inline
def decimal_word(value):
    """A value in [0, 1] as the 8 bytes of its text with six decimals ('0.123457')."""
    micro = np.int64(min(max(value, 0.0), 1.0) * 1e6 + 0.5)
    whole = micro // 1000000
    fraction = micro - whole * 1000000
    high = fraction // 1000
    return (
        np.uint64(ZERO + whole)
        | (np.uint64(DOT) << np.uint64(8))
        | (THREE_DIGITS[high] << np.uint64(16))
        | (THREE_DIGITS[fraction - high * 1000] << np.uint64(40))
    )


@kernel
def format_piece(data, lo, hi, delimiter, values, first_row, out, at):
    """Each non-blank line of data[lo:hi] (without its CR), then the values of its row in
    [0, 1] with six decimals, written to out from `at`. Returns where the writing ended.
    Lines are skipped and ended exactly as parse_piece does."""
    row = first_row
    k = lo
    base = k - 64  # the line breaks in the 64 bytes from base, none before k
    newlines = np.uint64(0)
    while k < hi:
        c = data[k]
        if c == NEWLINE or c == RETURN or c == SPACE:
            j = k
            while j < hi and (data[j] == RETURN or data[j] == SPACE):
                j += 1
            if j >= hi or data[j] == NEWLINE:
                k = j + 1
                base = k - 64
                newlines = np.uint64(0)
                continue
        while newlines == 0:
            base += 64
            delimiters, newlines = separators(data, base, NEWLINE)
            newlines |= delimiters  # with NEWLINE as the delimiter, the breaks are in either
        end = base + np.int64(trailing_zeros(newlines))
        newlines &= newlines - np.uint64(1)
        stop = end - 1 if data[end - 1] == RETURN else end
        n = stop - k
        if n >= 8:  # in words, the last one overlapping the one before
            for j in range(0, n - 8, 8):
                store_u64(out, at + j, load_u64(data, k + j))
            store_u64(out, at + n - 8, load_u64(data, k + n - 8))
        else:
            for j in range(n):
                out[at + j] = data[k + j]
        at += n
        for v in range(values.shape[0]):
            out[at] = delimiter
            store_u64(out, at + 1, decimal_word(values[v, row]))
            at += 9
        out[at] = NEWLINE
        at += 1
        row += 1
        k = end + 1
    return at


@parallel_kernel
def format_pieces(data, bounds, delimiter, values, first_rows, out, starts, ends):
    for p in prange(bounds.shape[0] - 1):
        ends[p] = format_piece(data, bounds[p], bounds[p + 1], delimiter, values, first_rows[p], out, starts[p])
