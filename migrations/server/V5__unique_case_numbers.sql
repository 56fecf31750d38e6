-- Schema version 5: a case number is unique within its lab (ARCHITECTURE.md, "Rules every
-- workstation's store keeps").
--
-- Every workstation store declares `cases.case_number UNIQUE`, deleted cases included. A central
-- store that accepted two cases of one lab with the same number (two workstations importing the
-- same old number offline) handed every workstation a case it cannot store, and stopped their
-- pulls for good. The push path now rejects a creating case whose number another case of the lab
-- has (labdesk-server-postgres, push.rs); this index makes sure two batches racing with the same
-- number cannot both commit: the later insert fails, and its batch runs again and rejects it.
--
-- Databases written by older servers may hold such duplicates already, and the index could then
-- not be built. They are kept (nothing is deleted centrally) but marked: of each lab's cases with
-- one number, the first accepted (earliest arrival of its creating revision) stays in the index;
-- the later ones get `number_clash` and are left out of it. No new row is ever marked: the push
-- path rejects instead.

ALTER TABLE records ADD COLUMN number_clash boolean NOT NULL DEFAULT false;

UPDATE records r SET number_clash = true
  FROM (SELECT c.id,
               row_number() OVER (PARTITION BY c.lab_id, c.state ->> 'case_number'
                                  ORDER BY v.arrival, c.id) AS nth
          FROM records c
          JOIN revisions v ON v.record_id = c.id AND v.version = 1
         WHERE c.kind = 'case' AND c.state ->> 'case_number' IS NOT NULL) d
 WHERE r.id = d.id AND d.nth > 1;

CREATE UNIQUE INDEX records_case_number ON records (lab_id, (state ->> 'case_number'))
    WHERE kind = 'case' AND NOT number_clash;
