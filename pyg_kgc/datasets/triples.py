r"""Reading ``head relation tail`` files into index tensors.

A triple file holds one fact a line: three fields separated by tabs (or, on
lines without a tab, by any whitespace), with LF or CRLF line endings. Blank
lines are skipped. Anything else (two or four fields, an empty field, bytes
that are not UTF-8) is an error that names the file and the line.
"""
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Sequence, Union

import torch
from torch import Tensor


class TripleFileError(ValueError):
    r"""A triple file could not be read: the message names the file and the
    1-based line number, which are also kept as :obj:`source` and
    :obj:`line`."""
    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line


@dataclass
class RawTriples:
    r"""The triples of one file as strings, with the line each came from.

    Attributes:
        source (str): Where the triples come from (a path, or an archive
            member written as :obj:`archive:member`), used in errors.
        heads, relations, tails (List[str]): The three columns.
        lines (List[int]): The 1-based line number of every triple.
    """
    source: str
    heads: List[str] = field(default_factory=list)
    relations: List[str] = field(default_factory=list)
    tails: List[str] = field(default_factory=list)
    lines: List[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.heads)

    def entities(self) -> Iterator[str]:
        r"""Every head and tail, in file order (with repetitions)."""
        yield from self.heads
        yield from self.tails


def parse_triples(text: str, source: str = '<string>') -> RawTriples:
    r"""Parses the text of a triple file.

    Args:
        text (str): The file's content.
        source (str, optional): The name used in error messages.
            (default: :obj:`"<string>"`)

    Raises:
        TripleFileError: On a line that does not hold exactly three
            non-empty fields.
    """
    out = RawTriples(source)
    for number, line in enumerate(text.split('\n'), start=1):
        if line.endswith('\r'):
            line = line[:-1]
        if not line.strip():
            continue
        if '\t' in line:
            parts = [part.strip() for part in line.split('\t')]
        else:
            parts = line.split()
        if len(parts) != 3:
            raise TripleFileError(
                source, number,
                f"expected 3 fields (head, relation, tail), found "
                f"{len(parts)}: {line!r}")
        head, rel, tail = parts
        if not head or not rel or not tail:
            name = ('head', 'relation', 'tail')[[head, rel, tail].index('')]
            raise TripleFileError(source, number,
                                  f"empty {name} field: {line!r}")
        out.heads.append(head)
        out.relations.append(rel)
        out.tails.append(tail)
        out.lines.append(number)
    return out


def decode_triples(content: bytes, source: str) -> RawTriples:
    r"""Decodes UTF-8 :obj:`content` and parses it, see
    :func:`parse_triples`. Undecodable bytes raise a
    :class:`TripleFileError` naming their line."""
    try:
        text = content.decode('utf-8')
    except UnicodeDecodeError as e:
        line = content[:e.start].count(b'\n') + 1
        raise TripleFileError(source, line,
                              f"not valid UTF-8 ({e.reason})") from None
    return parse_triples(text, source)


def read_triples(path: str) -> RawTriples:
    r"""Reads and parses the triple file at :obj:`path`, see
    :func:`parse_triples`."""
    with open(path, 'rb') as f:
        return decode_triples(f.read(), str(path))


class Vocab:
    r"""A bidirectional map between names and contiguous ids
    :obj:`0, ..., len(vocab) - 1`.

    Args:
        names (Iterable[str]): The names, in id order; must be unique.

    Example:
        >>> vocab = Vocab.build(['b', 'a', 'b'])  # sorted, deduplicated
        >>> vocab.names, vocab['b'], vocab.decode(torch.tensor([0]))
        (['a', 'b'], 1, ['a'])
    """
    def __init__(self, names: Iterable[str], kind: str = 'name') -> None:
        self.names: List[str] = list(names)
        self.kind = kind
        self.index: Dict[str, int] = {n: i for i, n in enumerate(self.names)}
        if len(self.index) != len(self.names):
            seen = set()
            dup = next(n for n in self.names if n in seen or seen.add(n))
            raise ValueError(f"Duplicate {kind} {dup!r} in vocabulary")

    @classmethod
    def build(cls, names: Iterable[str], kind: str = 'name') -> 'Vocab':
        r"""The vocabulary of the distinct :obj:`names`, sorted, so that
        ids do not depend on the order in which files or lines come."""
        return cls(sorted(set(names)), kind)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.index

    def __getitem__(self, name: str) -> int:
        try:
            return self.index[name]
        except KeyError:
            raise KeyError(f"Unknown {self.kind} {name!r}") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.names == other.names

    def encode(self, names: Sequence[str]) -> Tensor:
        r"""The ids of :obj:`names` as a :obj:`torch.long` tensor."""
        return torch.tensor([self[n] for n in names], dtype=torch.long)

    def decode(self, ids: Union[Tensor, Sequence[int]]) -> List[str]:
        r"""The names of :obj:`ids`."""
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        n = len(self.names)
        bad = [i for i in ids if not 0 <= i < n]
        if bad:
            raise IndexError(f"{self.kind} id {bad[0]} out of range for a "
                             f"vocabulary of {n}")
        return [self.names[i] for i in ids]

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({len(self)}, kind={self.kind!r})'


def encode_triples(raw: RawTriples, entities: Vocab,
                   relations: Vocab) -> Tensor:
    r"""Maps :obj:`raw` to a :obj:`[3, num_triples]` tensor of
    :obj:`(head, relation, tail)` ids.

    Raises:
        TripleFileError: On an entity or relation missing from its
            vocabulary, naming the file, the line and the name.
    """
    out = torch.empty((3, len(raw)), dtype=torch.long)
    columns = ((raw.heads, entities), (raw.relations, relations), (raw.tails,
                                                                   entities))
    for row, (names, vocab) in enumerate(columns):
        index = vocab.index
        try:
            ids = [index[n] for n in names]
        except KeyError as e:
            i = names.index(e.args[0])
            raise TripleFileError(
                raw.source, raw.lines[i],
                f"unknown {vocab.kind} {e.args[0]!r}") from None
        out[row] = torch.tensor(ids, dtype=torch.long)
    return out


def vocab_of(triple_sets: Sequence[RawTriples], kind: str) -> Vocab:
    r"""The sorted vocabulary of the entities (:obj:`kind="entity"`) or
    relations (:obj:`kind="relation"`) in :obj:`triple_sets`."""
    if kind == 'entity':
        return Vocab.build((n for ts in triple_sets for n in ts.entities()),
                           'entity')
    return Vocab.build((n for ts in triple_sets for n in ts.relations),
                       'relation')
