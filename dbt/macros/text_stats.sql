{% macro is_placeholder(column) -%}
    (regexp_replace(lower({{ column }}), '[^a-z0-9]', '', 'g')
        in ({% for text in var('placeholder_texts') %}'{{ text }}'{% if not loop.last %}, {% endif %}{% endfor %})
     and length(trim({{ column }})) > 0)
{%- endmacro %}

{% macro approx_tokens(column) -%}
    {#- Word-piece count by the usual pre-tokenizer split: runs of word characters and
        single punctuation marks. A model-free stand-in for a tokenizer count. -#}
    len(regexp_extract_all({{ column }}, '\w+|[^\w\s]'))
{%- endmacro %}
