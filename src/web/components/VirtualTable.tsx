// A virtualised, keyboard-navigable table (TanStack Table for columns and sorting, TanStack Virtual
// for rows): only the rows on screen are in the DOM, so 50k rows scroll like 50.
import { Box, Loader, Text, UnstyledButton } from '@mantine/core';
import {
  type ColumnDef,
  flexRender,
  getCoreRowModel,
  getSortedRowModel,
  type SortingState,
  useReactTable,
} from '@tanstack/react-table';
import { useVirtualizer } from '@tanstack/react-virtual';
import { type KeyboardEvent, useEffect, useRef, useState } from 'react';

export interface ColMeta {
  /** A CSS grid track: `120px`, `minmax(180px, 2fr)`. */
  width?: string;
  align?: 'right' | 'left';
}

declare module '@tanstack/react-table' {
  interface ColumnMeta<TData, TValue> extends ColMeta {}
}

interface Props<T> {
  data: T[];
  // biome-ignore lint/suspicious/noExplicitAny: column value types differ per column, as in TanStack's own examples
  columns: ColumnDef<T, any>[];
  label: string;
  height?: number | string;
  rowHeight?: number;
  onRowClick?: (row: T) => void;
  /** Called when the last rendered row is near the end: load the next page. */
  onEndReached?: () => void;
  loadingMore?: boolean;
  /** Sort in the browser (small lists); big lists sort on the server. */
  sortable?: boolean;
  totalCount?: number;
  getRowId?: (row: T, index: number) => string;
  emptyText?: string;
  testId?: string;
}

export function VirtualTable<T>({
  data,
  columns,
  label,
  height = 520,
  rowHeight = 38,
  onRowClick,
  onEndReached,
  loadingMore,
  sortable,
  totalCount,
  getRowId,
  emptyText = 'Nothing to show',
  testId,
}: Props<T>) {
  const [sorting, setSorting] = useState<SortingState>([]);
  const table = useReactTable({
    data,
    columns,
    state: { sorting },
    onSortingChange: setSorting,
    enableSorting: !!sortable,
    getCoreRowModel: getCoreRowModel(),
    getSortedRowModel: sortable ? getSortedRowModel() : undefined,
    getRowId,
  });
  const rows = table.getRowModel().rows;
  const scrollRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => rowHeight,
    overscan: 12,
  });
  const items = virtualizer.getVirtualItems();
  const lastIndex = items.length ? items[items.length - 1].index : -1;
  useEffect(() => {
    if (onEndReached && lastIndex >= rows.length - 25 && rows.length > 0) onEndReached();
  }, [lastIndex, rows.length, onEndReached]);

  const template = table
    .getVisibleLeafColumns()
    .map((c) => c.columnDef.meta?.width ?? 'minmax(100px, 1fr)')
    .join(' ');

  const focusRow = (index: number) => {
    const i = Math.max(0, Math.min(rows.length - 1, index));
    virtualizer.scrollToIndex(i, { align: 'auto' });
    requestAnimationFrame(() => {
      scrollRef.current?.querySelector<HTMLElement>(`[data-index="${i}"]`)?.focus();
    });
  };
  const onKey = (e: KeyboardEvent<HTMLTableRowElement>, index: number, row: T) => {
    if (e.key === 'ArrowDown') focusRow(index + 1);
    else if (e.key === 'ArrowUp') focusRow(index - 1);
    else if (e.key === 'Home') focusRow(0);
    else if (e.key === 'End') focusRow(rows.length - 1);
    else if ((e.key === 'Enter' || e.key === ' ') && onRowClick) onRowClick(row);
    else return;
    e.preventDefault();
  };

  return (
    <Box className="vt" data-testid={testId}>
      <div ref={scrollRef} className="vt-scroll" style={{ height, overflow: 'auto' }}>
        <table className="vt-table" aria-label={label} aria-rowcount={(totalCount ?? rows.length) + 1}>
          <thead className="vt-head">
            <tr aria-rowindex={1} style={{ gridTemplateColumns: template }}>
              {table.getFlatHeaders().map((h) => {
                const align = h.column.columnDef.meta?.align;
                const sorted = h.column.getIsSorted();
                const content = flexRender(h.column.columnDef.header, h.getContext());
                return (
                  <th
                    key={h.id}
                    scope="col"
                    aria-sort={sorted === 'asc' ? 'ascending' : sorted === 'desc' ? 'descending' : undefined}
                    className={align === 'right' ? 'vt-cell right' : 'vt-cell'}
                  >
                    {h.column.getCanSort() ? (
                      <UnstyledButton className="vt-sort" onClick={h.column.getToggleSortingHandler()}>
                        {content}
                        <span aria-hidden className="vt-sort-mark">
                          {sorted === 'asc' ? '▲' : sorted === 'desc' ? '▼' : '↕'}
                        </span>
                      </UnstyledButton>
                    ) : (
                      content
                    )}
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody style={{ height: virtualizer.getTotalSize() }}>
            {items.map((vi) => {
              const row = rows[vi.index];
              return (
                <tr
                  key={row.id}
                  data-index={vi.index}
                  aria-rowindex={vi.index + 2}
                  tabIndex={onRowClick ? 0 : undefined}
                  className={onRowClick ? 'vt-row clickable' : 'vt-row'}
                  onClick={onRowClick ? () => onRowClick(row.original) : undefined}
                  onKeyDown={(e) => onKey(e, vi.index, row.original)}
                  style={{
                    gridTemplateColumns: template,
                    height: rowHeight,
                    transform: `translateY(${vi.start}px)`,
                  }}
                >
                  {row.getVisibleCells().map((cell) => (
                    <td
                      key={cell.id}
                      className={
                        cell.column.columnDef.meta?.align === 'right' ? 'vt-cell right num' : 'vt-cell'
                      }
                    >
                      {flexRender(cell.column.columnDef.cell, cell.getContext())}
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
        {rows.length === 0 ? (
          <Text c="dimmed" size="sm" p="lg" ta="center">
            {emptyText}
          </Text>
        ) : null}
        {loadingMore ? (
          <Box p="xs" ta="center">
            <Loader size="xs" aria-label="Loading more rows" />
          </Box>
        ) : null}
      </div>
    </Box>
  );
}
