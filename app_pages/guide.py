"""How to read the plots: a page for teaching, one short section per view of the Forget page."""
from __future__ import annotations

import streamlit as st

from ui import method_text, theme

st.title("How to read the plots")
st.markdown(
    "Every view on the **Forget** page compares the model **before** forgetting with the model **after**, on "
    "the same real test images the model never trained on. One colour always means one thing: "
    f"<span style='color:{theme.FORGOTTEN};font-weight:600'>vermillion = a forgotten class</span>, "
    f"<span style='color:{theme.BEFORE};font-weight:600'>grey = before</span>, "
    f"<span style='color:{theme.AFTER};font-weight:600'>blue = after (kept classes)</span>, "
    f"<span style='color:{theme.PERTURBED};font-weight:600'>green = parameters the method moved</span>. "
    "The palette (Okabe–Ito) stays distinguishable for colour-blind viewers.", unsafe_allow_html=True)

st.header("The three numbers")
st.markdown(
    "- **A_F**: test accuracy on the forgotten classes. After a good forgetting it is near **0%**: the model no "
    "longer recognises them (it answers some other class).\n"
    "- **A_R**: test accuracy on the remaining classes. After a good forgetting it is **unchanged**: nothing "
    "else was damaged.\n"
    "- **E_F**: how much of the forgotten classes' accuracy was removed, in percent: (A_F before − A_F after) / "
    "A_F before. **100%** means all of it.\n\n"
    "The banner above the numbers says in plain words whether the run worked **on real data**: forgotten when "
    "A_F is at most 2%, kept when A_R dropped by at most 3 points.")

st.header("Accuracy per class")
st.markdown(
    "Grouped bars, one pair per class: grey before, blue after; the forgotten classes are shaded and their "
    "'after' bar is vermillion. Look for the vermillion bar falling to zero while every blue bar stays as tall "
    "as its grey neighbour.")

st.header("Parameter sensitivity")
st.markdown(
    "For every weight it looks at, the method asks one question, **on the codes only**: if this weight were "
    "nudged, would the answers about the forgotten classes change much more than the answers about the others? "
    "The histogram counts weights by that ratio, on a log scale: right of 0, a weight matters more to the "
    "forgotten classes; left of 0, more to the others. That sensitivity of a weight is called its **Fisher "
    "information**. The **green** bars are the weights it moved. They can lie "
    "on both sides of 0, often mostly on the left where most weights are: each moves in proportion to its "
    "ratio, so one at +2 moved about 100 times more than one at 0, and one at −2 a hundredth as much. The "
    "subtitle says how many were moved, of those weighed and of the whole model; the per-layer view shows where "
    "they are.")
with st.expander("For the curious: the Fisher information"):
    st.markdown(
        "The Fisher information of a weight is the average squared gradient of the loss with respect to it: "
        "how sharply the loss reacts when the weight moves. **F_forget** is computed on the forgotten classes' "
        "codes, **F_remain** on the others' codes, and the histogram's x axis is **log10(F_forget / F_remain)**. "
        "The paper's rule moves each tensor by s·r with r = F_forget / F_remain and one scale s per tensor.")

st.header("Mnemonic codes")
st.markdown(
    "Each class has a fixed random image, its code, that the model learnt to recognise during training. Under "
    "each code: the predicted class and its confidence before (*was*) and after (*now*); a wrong prediction is in "
    "italics and marked ✗. The method decides everything from these codes alone: it keeps the direction (+ or −) that makes "
    "the forgotten codes unrecognised and the others still recognised.")

st.header("Real test images")
st.markdown(
    "The first test images of each forgotten class (framed in vermillion), then one image of each of the first "
    "kept classes, with predictions before and after. **This is the test that matters**: a run can forget the "
    "codes and still recognise the real images, and a run that forgets neither says so in its banner. Try the "
    "paper's rule on the paper's MLP (`mlp-mnist5k`) with the digit 3: look at the code of 3 and at the real 3s, "
    "and compare with what the banner says.")

st.header("Confusion matrices")
st.markdown(
    "Rows are the true class, columns the predicted class; each row shows where that class's test images went, "
    "in percent of that class's test images (the number in a cell is that percent, rounded; a bright diagonal "
    "cell at 90 % or more carries no number; hover over a cell for the count of images). Before forgetting, the diagonal is bright. After, the "
    "forgotten class's row (outlined) has moved off the diagonal: the column it moved to tells you what the "
    "model now thinks those images are.")

st.header("The methods")
st.markdown("The Forget page offers the methods this installation knows; all of them use the mnemonic codes, "
            "and the banner always judges them on real test images.")
st.markdown("\n".join(f"- **{name}**: {method_text.plain_mode(name)}" for name in method_text.available_modes()))
with st.expander("For the curious: each method precisely"):
    st.markdown("\n".join(f"- **{name}**: {text}" for name, text in method_text.available_modes().items()))

st.header("Questions to ask a class")
st.markdown(
    "1. Forget one digit. Which digit do its images turn into, and why that one?\n"
    "2. Pick `mlp-mnist5k` and the paper's rule, and forget the digit 3. Is the code of 3 forgotten? Are the real 3s?\n"
    "3. With the paper's rule, multiply λ1 by 10. What happens to A_R?\n"
    "4. Forget two digits at once. Is it harder than one?\n"
    "5. Train a small CNN on the Model page and forget a digit. Does the method still work?")
