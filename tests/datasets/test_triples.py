import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pyg_kgc.datasets import (
    TripleFileError,
    Vocab,
    encode_triples,
    parse_triples,
    read_triples,
)
from pyg_kgc.datasets.triples import decode_triples, vocab_of


def as_list(raw):
    return list(zip(raw.heads, raw.relations, raw.tails))


def test_tabs_crlf_blank_lines_and_whitespace():
    text = ('a\tr\tb\r\n'
            '\r\n'
            'b\tr2\tc\n'
            '   \n'
            'c  r  d\n'
            'x y\tr3\t z \n')  # tab-separated names may hold spaces
    raw = parse_triples(text, 'f.txt')
    assert as_list(raw) == [('a', 'r', 'b'), ('b', 'r2', 'c'), ('c', 'r', 'd'),
                            ('x y', 'r3', 'z')]
    assert raw.lines == [1, 3, 5, 6]
    assert raw.source == 'f.txt'


def test_no_trailing_newline():
    assert as_list(parse_triples('a\tr\tb')) == [('a', 'r', 'b')]


@pytest.mark.parametrize('line, message', [
    ('a\tr', 'expected 3 fields (head, relation, tail), found 2'),
    ('a r', 'expected 3 fields (head, relation, tail), found 2'),
    ('a\tr\tb\tc', 'expected 3 fields (head, relation, tail), found 4'),
    ('a\tr\tb\t', 'expected 3 fields (head, relation, tail), found 4'),
    ('a\t\tb', 'empty relation field'),
    ('\tr\tb', 'empty head field'),
    ('a\tr\t ', 'empty tail field'),
])
def test_malformed_line_names_file_and_line(line, message):
    text = f'h\tr\tt\n\nh2\tr\tt2\n{line}\nh3\tr\tt3\n'
    with pytest.raises(TripleFileError) as e:
        parse_triples(text, 'data/train.txt')
    assert str(e.value).startswith(f'data/train.txt:4: {message}')
    assert e.value.source == 'data/train.txt' and e.value.line == 4


def test_truncated_file(tmp_path):
    path = tmp_path / 'train.txt'
    path.write_bytes(b'a\tr\tb\nc\tr\td\ne\tr')  # cut in the middle
    with pytest.raises(TripleFileError, match=r'train\.txt:3: expected 3'):
        read_triples(str(path))


def test_invalid_utf8_names_line():
    with pytest.raises(TripleFileError, match=r'^x\.txt:2: not valid UTF-8'):
        decode_triples(b'a\tr\tb\n\xff\tr\tb\n', 'x.txt')


def test_vocab_is_sorted_and_bidirectional():
    vocab = Vocab.build(['c', 'a', 'b', 'a'], 'entity')
    assert vocab.names == ['a', 'b', 'c']
    assert vocab['c'] == 2 and 'b' in vocab and 'z' not in vocab
    assert vocab.encode(['b', 'a']).tolist() == [1, 0]
    assert vocab.decode(torch.tensor([2, 0])) == ['c', 'a']
    with pytest.raises(KeyError, match="Unknown entity 'z'"):
        vocab['z']
    with pytest.raises(IndexError, match='entity id 3 out of range'):
        vocab.decode([3])
    with pytest.raises(ValueError, match="Duplicate entity 'a'"):
        Vocab(['a', 'b', 'a'], 'entity')


@given(st.lists(st.tuples(*[st.sampled_from('abcdefg')] * 3), min_size=1))
def test_ids_do_not_depend_on_line_order(triples):
    text = '\n'.join('\t'.join(t) for t in triples)
    shuffled = '\n'.join('\t'.join(t) for t in reversed(triples))
    a, b = parse_triples(text), parse_triples(shuffled)
    assert vocab_of([a], 'entity') == vocab_of([b], 'entity')
    assert vocab_of([a], 'relation') == vocab_of([b], 'relation')
    ents, rels = vocab_of([a], 'entity'), vocab_of([a], 'relation')
    ids = encode_triples(a, ents, rels)
    # Decoding the ids gives back the file's strings.
    assert list(
        zip(ents.decode(ids[0]), rels.decode(ids[1]),
            ents.decode(ids[2]))) == triples


def test_unknown_relation_names_file_and_line():
    raw = parse_triples('a\tr\tb\n\nb\tq\ta\n', 'ind/train.txt')
    entities = Vocab.build(['a', 'b'], 'entity')
    relations = Vocab.build(['r'], 'relation')
    with pytest.raises(TripleFileError,
                       match=r"^ind/train\.txt:3: unknown relation 'q'"):
        encode_triples(raw, entities, relations)
    with pytest.raises(TripleFileError,
                       match=r"^ind/train\.txt:1: unknown entity 'a'"):
        encode_triples(raw, Vocab.build(['b'], 'entity'), relations)
